"""The pending-work index, leases and schedules, in table `pending`.

Markers (`kind|shard`, ledger partition) say a partition has work; each request writes its
markers into one random shard, so no partition of the index is hot. Leases keep work that must
not overlap (sending an environment) to one holder; schedules keep one message per product's
aggregation or environment's send waiting at a time. Mixed into `LedgerStore`, which owns the
table client (`self.pending`) and the fault hook (`self._step`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.adapters.ledger_keys import LEDGER_WORK, PENDING_SHARDS, any_shard, pending_shard, schedule_shard
from shared.adapters.table_batches import chunks as _chunks
from shared.adapters.table_batches import etag as _etag
from shared.adapters.table_batches import in_parallel, resilient
from shared.adapters.table_transactions import submit_transaction
from shared.domain.identifiers import environment_range

LEASES = "lease"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Marker:
    """A pending-work marker: `partition` has work of `kind`, recorded in `shard` with this ETag."""

    kind: str
    shard: int
    partition: str
    etag: str
    touched_at: datetime | None = None

    def as_message(self) -> dict[str, Any]:
        return {"kind": self.kind, "partition": self.partition, "shard": self.shard, "etag": self.etag}

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> Marker | None:
        if not isinstance(body.get("shard"), int) or not isinstance(body.get("etag"), str):
            return None
        return cls(str(body["kind"]), body["shard"], str(body["partition"]), body["etag"])


class PendingIndex:
    pending: TableClient
    _step: Callable[[str], None]

    # ---- pending-work index (sharded) ---------------------------------------------------------------
    def mark_pending(
        self, partitions: Iterable[str], at: datetime, kind: str = LEDGER_WORK, shard: int | None = None
    ) -> list[Marker]:
        """Record that `partitions` have work of `kind`: one transaction per 100, all in one shard."""
        shard = any_shard() if shard is None else shard
        entities = [
            {"PartitionKey": pending_shard(kind, shard), "RowKey": p, "TouchedAt": at} for p in sorted(set(partitions))
        ]
        markers: list[Marker] = []
        for chunk in _chunks(entities):
            self._step("touch_pending")
            results = resilient(
                submit_transaction, self.pending, [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk]
            )
            markers += [Marker(kind, shard, e["RowKey"], r["etag"], at) for e, r in zip(chunk, results, strict=True)]
        return markers

    def touch_pending(self, partitions: Iterable[str], at: datetime, kind: str = LEDGER_WORK) -> None:
        self.mark_pending(partitions, at, kind)

    def pending_markers(
        self, kind: str = LEDGER_WORK, touched_before: datetime | None = None, environment_id: str | None = None
    ) -> list[Marker]:
        """Every marker of `kind` over all shards, oldest first (so a budgeted sweep starves no one)."""

        def shard_markers(shard: int) -> list[Marker]:
            clauses: list[str] = ["PartitionKey eq @pk"]
            params: dict[str, Any] = {"pk": pending_shard(kind, shard)}
            if touched_before is not None:
                clauses.append("TouchedAt lt @before")
                params["before"] = touched_before
            if environment_id is not None:
                clauses += ["RowKey ge @envlo", "RowKey lt @envhi"]
                params["envlo"], params["envhi"] = environment_range(environment_id)
            return [
                Marker(kind, shard, e["RowKey"], _etag(e), e.get("TouchedAt"))
                for e in self.pending.query_entities(
                    " and ".join(clauses), parameters=params, select=["RowKey", "TouchedAt"]
                )
            ]

        self._step("list_pending")
        found = [m for markers in in_parallel(shard_markers, [(s,) for s in range(PENDING_SHARDS)]) for m in markers]
        return sorted(found, key=lambda m: (m.touched_at or EPOCH, m.partition))

    def clear_pending(self, marker: Marker) -> bool:
        """Remove the marker unless new work arrived since it was written (its ETag changed)."""
        try:
            self._step("clear_pending")
            self.pending.delete_entity(
                pending_shard(marker.kind, marker.shard),
                marker.partition,
                etag=marker.etag,
                match_condition=MatchConditions.IfNotModified,
            )
            return True
        except (ResourceNotFoundError, HttpResponseError) as exc:
            if isinstance(exc, ResourceNotFoundError) or exc.status_code == 412:
                return False
            raise

    def clear_pending_many(self, markers: Iterable[Marker]) -> None:
        """Remove markers whose ETag is unchanged, one transaction per shard (a batch message's markers
        share the shard its request wrote them to); a shard whose transaction is refused because one
        marker changed or went is cleared marker by marker."""
        by_shard: dict[tuple[str, int], list[Marker]] = {}
        for marker in markers:
            by_shard.setdefault((marker.kind, marker.shard), []).append(marker)
        for (kind, shard), group in by_shard.items():
            for chunk in _chunks(group):
                if len(chunk) == 1:
                    self.clear_pending(chunk[0])
                    continue
                ops = [
                    (
                        "delete",
                        {"PartitionKey": pending_shard(kind, shard), "RowKey": m.partition},
                        {"etag": m.etag, "match_condition": MatchConditions.IfNotModified},
                    )
                    for m in chunk
                ]
                try:
                    self._step("clear_pending")
                    resilient(submit_transaction, self.pending, ops)
                except TableTransactionError:
                    for marker in chunk:
                        self.clear_pending(marker)

    # ---- leases: one holder at a time for work that must not overlap (sending an environment) -----------
    def acquire_lease(self, name: str, holder: str, now: datetime, seconds: int) -> str | None:
        """The lease's ETag if `holder` now holds `name`; None while another holder's lease runs."""
        entity = {"PartitionKey": LEASES, "RowKey": name, "Holder": holder, "Until": now + timedelta(seconds=seconds)}
        try:
            return self.pending.create_entity(entity)["etag"]
        except ResourceExistsError:
            pass
        try:
            current = self.pending.get_entity(LEASES, name)
        except ResourceNotFoundError:
            return None
        if current["Until"] > now:
            return None
        try:
            return self.pending.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=_etag(current), match_condition=MatchConditions.IfNotModified
            )["etag"]
        except HttpResponseError:
            return None  # another holder took the expired lease first

    def release_lease(self, name: str, etag: str) -> None:
        with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
            self.pending.delete_entity(LEASES, name, etag=etag, match_condition=MatchConditions.IfNotModified)

    def schedule_once(self, name: str, at: datetime) -> bool:
        """True if no schedule `name` was waiting (the caller then sends the one message for it).

        Schedules are spread over the pending shards by name: every product's aggregation has one.
        """
        try:
            self._step("schedule")
            self.pending.create_entity({"PartitionKey": schedule_shard(name), "RowKey": name, "At": at})
            return True
        except ResourceExistsError:
            return False

    def unschedule(self, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._step("unschedule")
            self.pending.delete_entity(schedule_shard(name), name)

    def stale_schedules(self, before: datetime, prefix: str = "") -> list[str]:
        """Schedules older than `before` (their message was lost), optionally only names with `prefix`."""

        def shard(n: int) -> list[str]:
            clauses, params = (
                ["PartitionKey eq @pk", "At lt @before"],
                {"pk": pending_shard("schedule", n), "before": before},
            )
            if prefix:
                clauses += ["RowKey ge @lo", "RowKey lt @hi"]
                params["lo"], params["hi"] = prefix, prefix + "\uffff"
            return [
                e["RowKey"]
                for e in self.pending.query_entities(" and ".join(clauses), parameters=params, select=["RowKey"])
            ]

        return [name for names in in_parallel(shard, [(n,) for n in range(PENDING_SHARDS)]) for name in names]
