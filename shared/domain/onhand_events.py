"""On-hand change events in Inventory Visibility's shape, checked against an environment's configuration.

An event changes (or, for `setonhand`, overwrites) physical measures of one product and dimension
combination. Its `id` makes it apply once: re-sending after a lost answer changes nothing.
Dimensions may use a data source's own names (`dimensionDataSource`); they are mapped to base
dimensions here, so the cache only ever holds base dimension names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from shared.domain.adjustments import LineProblem
from shared.domain.cache import Edit
from shared.domain.identifiers import DIMENSION_NAME, VALUE_TEXT, VALUE_TEXT_RULE
from shared.domain.inventory_config import InventoryConfig, base_dimension
from shared.domain.quantities import InvalidQuantity, canonical, parse_decimal

Mode = Literal["add", "set"]
FIELDS = ("id", "organizationId", "productId", "dimensionDataSource", "dimensions", "quantities")
_FIELD_BY_LOWER = {name.lower(): name for name in FIELDS}
MAX_DIMENSIONS = 30


@dataclass(frozen=True)
class OnHandEvent:
    id: str
    organization_id: str
    product_id: str
    dimensions: dict[str, str]
    quantities: dict[str, dict[str, Decimal]]
    mode: Mode

    def content(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organizationId": self.organization_id,
            "productId": self.product_id,
            "dimensions": self.dimensions,
            "mode": self.mode,
            "quantities": {
                ds: {m: canonical(q) for m, q in sorted(ms.items())} for ds, ms in sorted(self.quantities.items())
            },
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True).encode()).hexdigest()


class Problems:
    """Collects every problem of one item, so a client fixes a whole request in one go."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.items: list[LineProblem] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(LineProblem(index=self.index, field=field, message=message))


def normalise(raw: dict[str, Any], names: dict[str, str], problems: Problems) -> dict[str, Any]:
    """Field names matched case-insensitively (IV accepts any casing); unknown fields are refused."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = names.get(str(key).lower())
        if name is None:
            problems.add(str(key)[:40], "unknown field")
        elif name in out:
            problems.add(name, "given twice (field names are case-insensitive)")
        else:
            out[name] = value
    return out


def read_item(
    index: int, raw: Any, names: dict[str, str], required: tuple[str, ...], what: str
) -> tuple[Problems, dict[str, Any]]:
    """The first checks every item of a bulk request gets: an object, known fields, required fields."""
    found = Problems(index)
    if not isinstance(raw, dict):
        found.add("", f"each {what} must be a JSON object")
        return found, {}
    data = normalise(raw, names, found)
    for name in required:
        if name not in data:
            found.add(name, "is required")
    return found, data


def identity(data: dict[str, Any], problems: Problems) -> tuple[str, str, str]:
    """`id`, `organizationId`, `productId`: each becomes part of a table key, so each is checked."""
    return (
        key_text(data.get("id"), "id", problems),
        key_text(data.get("organizationId"), "organizationId", problems),
        key_text(data.get("productId"), "productId", problems),
    )


def key_text(value: Any, field: str, problems: Problems) -> str:
    """An id or dimension value: a key part, and a value that may reach a journal file (no formula start)."""
    if not isinstance(value, str) or not VALUE_TEXT.fullmatch(value):
        problems.add(field, f"must be {VALUE_TEXT_RULE}")
        return ""
    return value


def base_dimensions(raw: Any, source_name: Any, config: InventoryConfig, problems: Problems) -> dict[str, str]:
    """Map dimensions to base names: through `dimensionDataSource`'s mappings, else base names only."""
    source = None
    if source_name is not None and not (isinstance(source_name, str) and not source_name.strip()):
        # IV treats null, empty or whitespace as "base dimensions"; anything else must name a source.
        source = config.source(source_name) if isinstance(source_name, str) else None
        if source is None:
            problems.add("dimensionDataSource", f"not a configured data source: {list(config.data_source_names())}")
            return {}
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_DIMENSIONS:
        problems.add("dimensions", f"must be an object of at most {MAX_DIMENSIONS} dimensions")
        return {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not DIMENSION_NAME.fullmatch(name):
            problems.add("dimensions", f"dimension name {str(name)[:40]!r} must be letters, digits or _ (max 40)")
            continue
        base = source.map_dimension(name) if source else base_dimension(name)
        if base is None:
            where = f"data source {source.name}" if source else "base dimensions (no dimensionDataSource given)"
            problems.add(f"dimensions.{name}", f"not a dimension of {where}")
            continue
        if base in out:
            problems.add(f"dimensions.{name}", f"{base} is given twice")
            continue
        if value in (None, ""):
            continue
        out[base] = key_text(value, f"dimensions.{name}", problems)
    return dict(sorted(out.items()))


def physical_quantities(
    raw: Any, config: InventoryConfig, problems: Problems, only_source: str | None = None
) -> dict[str, dict[str, Decimal]]:
    """`{dataSource: {measure: number}}` with configured physical measures only (never calculated ones)."""
    if not isinstance(raw, dict) or not raw:
        problems.add("quantities", "must be an object of data source to {measure: quantity}")
        return {}
    out: dict[str, dict[str, Decimal]] = {}
    for ds_name, measures in raw.items():
        source = config.source(ds_name) if isinstance(ds_name, str) else None
        if source is None:
            problems.add(f"quantities.{str(ds_name)[:40]}", "not a configured data source")
            continue
        if only_source is not None and source.name.lower() != only_source.lower():
            problems.add(f"quantities.{source.name}", f"this request sets quantities of {only_source} only")
            continue
        if not isinstance(measures, dict) or not measures:
            problems.add(f"quantities.{source.name}", "must be an object of measure to quantity")
            continue
        for measure_name, value in measures.items():
            measure = source.measure(measure_name) if isinstance(measure_name, str) else None
            field = f"quantities.{source.name}.{str(measure_name)[:40]}"
            if measure is None:
                problems.add(field, f"not a physical measure of {source.name}: {list(source.physicalMeasures)}")
                continue
            try:
                quantity = parse_decimal(value, field="quantity")
            except InvalidQuantity as exc:
                problems.add(field, str(exc))
                continue
            if measure in out.setdefault(source.name, {}):
                problems.add(field, "given twice (names are case-insensitive)")
            out[source.name][measure] = quantity
    return out


def parse_events(
    raw_events: list[Any], config: InventoryConfig, mode: Mode, set_source: str | None = None
) -> tuple[list[OnHandEvent], list[LineProblem]]:
    """Validate every event; return all problems so nothing of a bad request is applied."""
    events: list[OnHandEvent] = []
    problems: list[LineProblem] = []
    for index, raw in enumerate(raw_events):
        found, data = read_item(
            index, raw, _FIELD_BY_LOWER, ("id", "organizationId", "productId", "quantities"), "event"
        )
        if not data:
            problems += found.items
            continue
        event_id, org, product = identity(data, found)
        dims = base_dimensions(data.get("dimensions"), data.get("dimensionDataSource"), config, found)
        quantities = physical_quantities(data.get("quantities"), config, found, set_source)
        if found.items:
            problems += found.items
            continue
        events.append(OnHandEvent(event_id, org, product, dims, quantities, mode))
    return events, problems


def event_edits(event: OnHandEvent) -> tuple[Edit, ...]:
    return tuple(
        Edit(event.dimensions, ds, measure, quantity, event.mode)
        for ds, measures in sorted(event.quantities.items())
        for measure, quantity in sorted(measures.items())
    )
