"""Adjustment offsets: once the ERP has a change, take it off the measure that counted it first.

A POS sale counts on `pos/sold` the moment it happens; when the ERP posts the same sale, the ERP's
own on-hand drops too. The offset takes the quantity off `pos/sold` exactly then, so the sale is
counted once. Which ERP status triggers it, and which storage dimensions must match, is a rule per
transaction type; product dimensions always match, unchecked dimensions are left out of the row
the offset is written to (a batch known only to the ERP, a warehouse chosen later).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.domain.adjustments import LineProblem
from shared.domain.cache import Edit
from shared.domain.inventory_config import PRODUCT_DIMENSIONS, TRIGGERS, InventoryConfig, OffsetRule
from shared.domain.onhand_events import base_dimensions, identity, physical_quantities, read_item
from shared.domain.quantities import InvalidQuantity, canonical, parse_decimal

JOURNAL_STAGE = {"FnOCreated": "Create", "FnOPosted": "Post"}
"""How far an aggregated line omnisync sent has come, in the adjustment journal's statuses."""
TRIGGER_STATUSES = tuple(JOURNAL_STAGE)
_STATUS_WORDS = {
    "create": "Create",
    "created": "Create",
    "invoice": "Invoice",
    "invoiced": "Invoice",
    "post": "Post",
    "posted": "Post",
}
FIELDS = (
    "id",
    "transactionType",
    "status",
    "organizationId",
    "productId",
    "dimensionDataSource",
    "dimensions",
    "quantity",
    "offsetDataSource",
    "offsetPhysicalMeasure",
    "quantities",
)
_FIELD_BY_LOWER = {name.lower(): name for name in FIELDS}
REQUIRED = (
    "id",
    "transactionType",
    "status",
    "organizationId",
    "productId",
    "quantity",
    "offsetDataSource",
    "offsetPhysicalMeasure",
)


def reached(rule: OffsetRule, stage: str) -> bool:
    """Whether a transaction at `stage` has reached the rule's trigger (statuses only move forward)."""
    order = TRIGGERS[rule.transactionType]
    return stage in order and order.index(stage) >= order.index(rule.trigger)


def offset_dimensions(dimensions: dict[str, str], rule: OffsetRule) -> dict[str, str]:
    """The row an offset lands on: product dimensions and the checked storage dimensions only."""
    keep = set(PRODUCT_DIMENSIONS) | set(rule.checkedDimensions)
    return {name: value for name, value in sorted(dimensions.items()) if name in keep}


def offset_edit(dimensions: dict[str, str], rule: OffsetRule, quantity: Decimal) -> Edit:
    return Edit(offset_dimensions(dimensions, rule), rule.offsetDataSource, rule.offsetPhysicalMeasure, -quantity)


@dataclass(frozen=True)
class ErpTransaction:
    """A sales order line or journal line as the ERP reports it, with the measure it offsets."""

    id: str
    transaction_type: str
    stage: str
    organization_id: str
    product_id: str
    dimensions: dict[str, str]
    quantity: Decimal
    rule: OffsetRule
    quantities: dict[str, dict[str, Decimal]]

    def fingerprint(self) -> str:
        """What must stay the same when the transaction is reported again (its status may move on)."""
        content = {
            "type": self.transaction_type,
            "org": self.organization_id,
            "product": self.product_id,
            "dimensions": self.dimensions,
            "quantity": canonical(self.quantity),
            "offset": [self.rule.offsetDataSource, self.rule.offsetPhysicalMeasure],
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def edits_at(self, stage_quantities: bool, offset: bool) -> tuple[Edit, ...]:
        edits = []
        if stage_quantities:
            edits += [
                Edit(self.dimensions, ds, measure, q)
                for ds, measures in sorted(self.quantities.items())
                for measure, q in sorted(measures.items())
            ]
        if offset:
            edits.append(offset_edit(self.dimensions, self.rule, self.quantity))
        return tuple(edits)


def parse_transactions(raw_items: list[Any], config: InventoryConfig) -> tuple[list[ErpTransaction], list[LineProblem]]:
    transactions: list[ErpTransaction] = []
    problems: list[LineProblem] = []
    for index, raw in enumerate(raw_items):
        found, data = read_item(index, raw, _FIELD_BY_LOWER, REQUIRED, "transaction")
        if not data:
            problems += found.items
            continue
        tx_id, org, product = identity(data, found)
        tx_type = data.get("transactionType")
        if not isinstance(tx_type, str) or tx_type not in TRIGGERS:
            tx_type = None
            found.add("transactionType", f"must be one of {list(TRIGGERS)}")
        stage = _STATUS_WORDS.get(str(data.get("status", "")).lower())
        if tx_type in TRIGGERS and stage not in TRIGGERS[tx_type]:
            found.add("status", f"a {tx_type} is one of {list(TRIGGERS[tx_type])}")
        dims = base_dimensions(data.get("dimensions"), data.get("dimensionDataSource"), config, found)
        try:
            quantity = parse_decimal(data.get("quantity"), field="quantity")
        except InvalidQuantity as exc:
            found.add("quantity", str(exc))
        rule = None
        named = True
        for name in ("offsetDataSource", "offsetPhysicalMeasure"):
            if not isinstance(data.get(name), str):
                found.add(name, "must be a text naming the offset's data source / physical measure")
                named = False
        if tx_type is not None and named:
            rule = config.offset_rule(tx_type, data["offsetDataSource"], data["offsetPhysicalMeasure"])
            if rule is None:
                found.add(
                    "offsetPhysicalMeasure",
                    f"no offset rule of this environment for {tx_type} on "
                    f"{data['offsetDataSource']!r}/{data['offsetPhysicalMeasure']!r}",
                )
        quantities = physical_quantities(data["quantities"], config, found) if data.get("quantities") else {}
        if found.items:
            problems += found.items
            continue
        if rule is None or stage is None or tx_type is None:  # every path to here added a problem
            raise AssertionError("a transaction without problems has a rule and a stage")
        transactions.append(ErpTransaction(tx_id, str(tx_type), stage, org, product, dims, quantity, rule, quantities))
    return transactions, problems
