"""Offsets, applied once: for journal lines omnisync sent, and for ERP transactions made elsewhere.

Journal lines: an aggregated line is created with `Offset = open`. When the ERP's answer moves it to
a status that reaches its rule's trigger, the offset and `Offset = done` commit in one partition
transaction (guarded by the line's ETag), so a repeated answer or a concurrent run finds it done.
A `pending` marker (kind `offset`) written before the status change lets the next timer run finish
what a crash interrupted. Once posted with its offset and on-hand change applied, the line leaves
the ledger for the finished records (the ledger keeps what is open: `finish_posted`).

ERP transactions: a record `T|id` in the product's partition remembers which statuses were
applied and whether the offset was; the record and the cache rows commit together.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.adapters.ledger_keys import OFFSET_WORK, ledger_partition, split_partition, transaction_key, transaction_of
from shared.domain.cache import CacheChange, Edit
from shared.domain.inventory_config import TRIGGERS, InventoryConfig
from shared.domain.ledger_records import IdRecord, OffsetCandidate
from shared.domain.offsets import JOURNAL_STAGE, TRIGGER_STATUSES, ErpTransaction, offset_edit, reached
from shared.services.cache_changes import TooMuchContention, apply_changes
from shared.services.outcomes import LineOutcome
from shared.services.ports import OffsetPort

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Configs = Callable[[str], InventoryConfig]
"""The configuration of an environment (stored or default), by environment id."""
ID_NAMESPACE = "tx|"


def _now() -> datetime:
    return datetime.now(UTC)


# ---- journal lines omnisync sent ------------------------------------------------------------------
def journal_offset_change(line: OffsetCandidate, config: InventoryConfig, at: datetime) -> CacheChange | None:
    """What an aggregated line's status now asks of the cache, or None while nothing is due.

    The offset is due once the status reaches the rule's trigger; the ERP's own on-hand change from
    posting the line (if its result reported one) is applied in the same transaction, so the two
    are never seen apart.
    """
    key = line.erp_key
    marker: dict[str, Any] = {}
    edits = []
    if line.offset == "open":
        rule = config.offset_rule("adjustmentJournal", key["dataSource"], key["measure"])
        if rule is None:
            marker |= {"Offset": "none", "OffsetAt": at}
        elif reached(rule, JOURNAL_STAGE[line.status]):
            edits.append(offset_edit(key["dimensions"], rule, Decimal(line.quantity)))
            marker |= {
                "Offset": "done",
                "OffsetAt": at,
                "OffsetTarget": f"{rule.offsetDataSource}/{rule.offsetPhysicalMeasure}",
            }
    if line.on_hand == "open":
        erp = line.erp_on_hand or {}
        edits += [
            Edit(key["dimensions"], ds, measure, Decimal(q))
            for ds, measures in sorted(erp.items())
            for measure, q in sorted(measures.items())
        ]
        marker |= {"OnHand": "done", "OnHandAt": at}
    if not marker:
        return None
    return CacheChange(line.marker_key, marker, line.etag, tuple(edits))


def offset_partition(store: OffsetPort, partition: str, config: InventoryConfig, clock: Clock = _now) -> int:
    def load() -> list[CacheChange]:
        changes = [
            journal_offset_change(e, config, clock()) for e in store.offset_candidates(partition, TRIGGER_STATUSES)
        ]
        return [c for c in changes if c is not None]

    applied = sum(1 for c in apply_changes(store, partition, load, clock) if c.edits)
    store.finish_posted(partition)  # posted and offset: nothing left to do in the ledger
    return applied


def offset_pending(store: OffsetPort, configs: Configs, clock: Clock = _now) -> int:
    """Apply the offsets of partitions whose journal lines changed status; returns lines offset."""
    applied = 0
    by_environment: dict[str, InventoryConfig] = {}
    for marker in store.pending_markers(OFFSET_WORK):
        partition = marker.partition
        environment_id = partition.split("|", 1)[0]
        if environment_id not in by_environment:
            by_environment[environment_id] = configs(environment_id)
        try:
            applied += offset_partition(store, partition, by_environment[environment_id], clock)
        except TooMuchContention as exc:
            log.warning("offsets of %s left to the next run: %s", partition, exc)  # its marker stays
            continue
        store.clear_pending(marker)
    if applied:
        log.info("offsets: %d journal lines offset", applied)
    return applied


# ---- ERP transactions made elsewhere ----------------------------------------------------------------
def _transaction_change(
    items: list[ErpTransaction], current: dict[str, Any] | None, at: datetime
) -> tuple[CacheChange | None, set[str], bool]:
    """One id's reports in this request against what is recorded.

    Returns the change (None when every status was applied before), the statuses it applies, and
    whether the transaction is offset once it is committed.
    """
    applied = set(json.loads(current["AppliedStages"])) if current else set()
    offset_done = bool(current and current.get("OffsetAppliedAt"))
    first = items[0]
    new_stages = list(dict.fromkeys(t.stage for t in items if t.stage not in applied))
    if not new_stages:
        return None, set(), offset_done
    edits: list[Edit] = []
    for stage in new_stages:
        edits += next(t for t in items if t.stage == stage).edits_at(stage_quantities=True, offset=False)
    offset_now = not offset_done and any(reached(first.rule, s) for s in [*applied, *new_stages])
    if offset_now:
        edits.append(offset_edit(first.dimensions, first.rule, first.quantity))
    stages = sorted(applied | set(new_stages), key=TRIGGERS[first.transaction_type].index)
    marker: dict[str, Any] = {
        "Kind": "erpTransaction",
        "TransactionId": first.id,
        "TransactionType": first.transaction_type,
        "Status": stages[-1],
        "AppliedStages": json.dumps(stages),
        "Fingerprint": first.fingerprint(),
        "Quantity": str(first.quantity),
        "OffsetTarget": f"{first.rule.offsetDataSource}/{first.rule.offsetPhysicalMeasure}",
        "Dimensions": json.dumps(first.dimensions, sort_keys=True),
        "UpdatedAt": at,
    }
    if offset_now:
        marker["OffsetAppliedAt"] = at
    change = CacheChange(transaction_key(first.id), marker, current["_etag"] if current else None, tuple(edits))
    return change, set(new_stages), offset_done or offset_now


def post_transactions(
    store: OffsetPort, environment_id: str, transactions: list[ErpTransaction], clock: Clock = _now
) -> list[LineOutcome]:
    """Record each report; apply its on-hand change once per status and its offset once per id."""
    outcomes: dict[int, LineOutcome] = {}
    fingerprints: dict[str, str] = {}
    for index, tx in enumerate(transactions):
        if fingerprints.setdefault(tx.id, tx.fingerprint()) != tx.fingerprint():
            outcomes[index] = LineOutcome(
                index, tx.id, "conflict", None, "the same id appears earlier in this request with other content"
            )
    unique = {tx.id: tx for i, tx in enumerate(transactions) if i not in outcomes}
    existing = store.reserve_ids(
        environment_id,
        [
            IdRecord(
                ID_NAMESPACE + tx.id,
                ledger_partition(environment_id, tx.organization_id, tx.product_id),
                tx.fingerprint(),
            )
            for tx in unique.values()
        ],
    )
    by_partition: dict[str, dict[str, list[tuple[int, ErpTransaction]]]] = defaultdict(lambda: defaultdict(list))
    for index, tx in enumerate(transactions):
        if index in outcomes:
            continue
        stored = existing.get(ID_NAMESPACE + tx.id)
        if stored is not None and stored.fingerprint != tx.fingerprint():
            outcomes[index] = LineOutcome(
                index, tx.id, "conflict", None, "this id was recorded earlier with other content; it was not applied"
            )
            continue
        partition = ledger_partition(environment_id, tx.organization_id, tx.product_id)
        by_partition[partition][tx.id].append((index, tx))

    for partition, by_id in sorted(by_partition.items()):
        stages_of: dict[int, set[str]] = {}
        offset: dict[str, bool] = {}

        def load(
            partition: str = partition,
            by_id: dict[str, list[tuple[int, ErpTransaction]]] = by_id,
            stages_of: dict[int, set[str]] = stages_of,
            offset: dict[str, bool] = offset,
        ) -> list[CacheChange]:
            # apply_changes returns only once every change of the latest load is committed, so the
            # latest load's view of each id is what storage holds afterwards.
            changes = []
            for tx_id, items in by_id.items():
                change, stages, offset[tx_id] = _transaction_change(
                    [t for _, t in items], store.get_entity(partition, transaction_key(tx_id)), clock()
                )
                if change is not None:
                    stages_of[id(change)] = stages
                    changes.append(change)
            return changes

        applied = {transaction_of(c.marker_key): stages_of[id(c)] for c in apply_changes(store, partition, load, clock)}
        for tx_id, items in by_id.items():
            for index, tx in items:
                fresh = tx.stage in applied.get(tx_id, set())
                outcomes[index] = LineOutcome(
                    index, tx.id, "created" if fresh else "duplicate", "offset" if offset[tx_id] else "recorded"
                )
    return [outcomes[i] for i in range(len(transactions))]


def transaction_view(store: OffsetPort, environment_id: str, transaction_id: str) -> dict[str, Any] | None:
    """What omnisync recorded of an ERP transaction: statuses applied, and whether it was offset."""
    record = store.find_id(environment_id, ID_NAMESPACE + transaction_id)
    entity = store.get_entity(record.ledger_partition, transaction_key(transaction_id)) if record else None
    if record is None or entity is None:
        return None
    _, org, product = split_partition(record.ledger_partition)
    return {
        "id": transaction_id,
        "transactionType": entity["TransactionType"],
        "organizationId": org,
        "productId": product,
        "dimensions": json.loads(entity["Dimensions"]),
        "quantity": entity["Quantity"],
        "status": entity["Status"],
        "appliedStatuses": json.loads(entity["AppliedStages"]),
        "offsetTarget": entity["OffsetTarget"],
        "offsetAppliedAt": entity.get("OffsetAppliedAt"),
    }
