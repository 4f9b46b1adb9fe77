"""Read side: detailed lines and the on-hand index query in Inventory Visibility's shape."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.adapters.ledger_keys import ledger_partition
from shared.domain.adjustments import BASE_DIMENSIONS
from shared.domain.cache import Quantities, merge
from shared.domain.identifiers import KEY_TEXT, KEY_TEXT_RULE
from shared.domain.inventory_config import InventoryConfig, calculated_quantities
from shared.domain.ledger_records import StoredLine
from shared.services.ports import CacheIndex, LineReader

LINE_STATUSES = ("Created", "IVPosted", "Aggregated")
MAX_PAGE = 1000
MAX_FILTER_VALUES = 100
_DIM_BY_LOWER = {d.lower(): d for d in BASE_DIMENSIONS}


def line_view(line: StoredLine) -> dict[str, Any]:
    """A stored line as the API shows it: what was sent, its status and the time of each status."""
    view: dict[str, Any] = dict(line.content)
    view["status"] = line.status
    view["statusTimes"] = {"Created": line.created_at, "IVPosted": line.iv_posted_at, "Aggregated": line.aggregated_at}
    if line.aggregated_line_id:
        view["aggregatedLineId"] = line.aggregated_line_id
    return view


class LineFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    productId: str | None = None
    organizationId: str | None = None
    externalReferenceId: str | None = None
    createdFrom: datetime | None = None
    createdTo: datetime | None = None
    pageSize: int = Field(100, ge=1, le=MAX_PAGE)
    continuationToken: str | None = Field(None, max_length=2000)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and value not in LINE_STATUSES:
            raise ValueError(f"must be one of {list(LINE_STATUSES)}")
        return value

    @field_validator("productId", "organizationId", "externalReferenceId")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not KEY_TEXT.fullmatch(value):
            raise ValueError(f"must be {KEY_TEXT_RULE}")
        return value


def list_lines(store: LineReader, environment_id: str, filters: LineFilters) -> dict[str, Any]:
    query = filters.model_dump(exclude={"pageSize", "continuationToken"})
    lines, token = store.stored_lines(environment_id, query, filters.pageSize, filters.continuationToken)
    return {"items": [line_view(line) for line in lines], "continuationToken": token}


def get_line(store: LineReader, environment_id: str, line_id: str) -> dict[str, Any] | None:
    record = store.find_id(environment_id, line_id)
    if record is None:
        return None
    line = store.stored_line(record.ledger_partition, line_id)
    return None if line is None else line_view(line)


def _key_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not 0 < len(value) <= MAX_FILTER_VALUES:
        raise ValueError(f"filters.{field} must be a list of 1-{MAX_FILTER_VALUES} values")
    for item in value:
        if not isinstance(item, str) or not KEY_TEXT.fullmatch(item):
            raise ValueError(f"filters.{field} values must be {KEY_TEXT_RULE}")
    return value


class IndexQuery(BaseModel):
    """IV's index query: `filters` (organizationId required, productId and dimensions optional)."""

    model_config = ConfigDict(extra="ignore")

    filters: dict[str, list[str]]
    groupByValues: list[str] = Field(default_factory=list, max_length=len(BASE_DIMENSIONS))
    returnNegative: bool = True
    dimensionDataSource: str | None = Field(None, max_length=100)

    def in_base_dimensions(self, config: InventoryConfig) -> IndexQuery:
        """Filters and groupings named in `dimensionDataSource`'s own terms, mapped to base dimensions."""
        if not self.dimensionDataSource or not self.dimensionDataSource.strip():
            return self
        source = config.source(self.dimensionDataSource)
        if source is None:
            raise ValueError(f"dimensionDataSource {self.dimensionDataSource[:40]!r} is not a configured data source")

        def base(name: str) -> str:
            return name if name in ("organizationId", "productId") else source.map_dimension(name) or name

        return self.model_copy(
            update={
                "filters": {base(k): v for k, v in self.filters.items()},
                "groupByValues": [base(g) for g in self.groupByValues],
                "dimensionDataSource": None,
            }
        )

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> dict[str, list[str]]:
        if not isinstance(value, dict):
            raise ValueError("filters must be an object")
        out: dict[str, list[str]] = {}
        for key, values in value.items():
            lower = str(key).lower()
            name = {"organizationid": "organizationId", "productid": "productId"}.get(lower) or _DIM_BY_LOWER.get(lower)
            if name is None:
                name = str(key)
                if not name.isidentifier() or len(name) > 40:
                    raise ValueError(f"unknown filter {str(key)[:40]!r}")
            out[name] = _key_list(values, name)
        if "organizationId" not in out:
            raise ValueError("filters.organizationId is required")
        return out

    @field_validator("groupByValues", mode="before")
    @classmethod
    def _group(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("groupByValues must be a list of dimension names")
        names: list[str] = value
        return [_DIM_BY_LOWER.get(name.lower(), name) for name in names]


def index_query(
    store: CacheIndex,
    environment_id: str,
    query: IndexQuery,
    config: InventoryConfig,
    exact: ExactFilter | None = None,
) -> list[dict[str, Any]]:
    """Sum cache rows per product and the `groupByValues` dimensions (others are summed over).

    Calculated measures are computed from each group's summed physical measures, never summed
    themselves, so a group's calculated value is always consistent with the physical ones shown.
    """
    query = query.in_base_dimensions(config)
    orgs = query.filters["organizationId"]
    products = query.filters.get("productId")
    partitions = [ledger_partition(environment_id, o, p) for o in orgs for p in products] if products else None
    dim_filters = {k: set(v) for k, v in query.filters.items() if k not in ("organizationId", "productId")}
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], Quantities] = {}
    for row in store.product_rows(environment_id, partitions):
        org, product, dims = row.organization_id, row.product_id, row.dimensions
        if org not in orgs:
            continue
        if any(dims.get(name) not in allowed for name, allowed in dim_filters.items()):
            continue
        if exact is not None and not exact.matches(dims):
            continue
        group_dims = tuple((name, dims.get(name, "")) for name in query.groupByValues)
        key = (org, product, group_dims)
        groups[key] = merge(groups.get(key, {}), row.quantities)
    items = []
    for (org, product, group_dims), physical in sorted(groups.items()):
        quantities = merge(physical, calculated_quantities(config, physical))
        if not query.returnNegative:
            quantities = {ds: {m: q for m, q in ms.items() if Decimal(q) >= 0} for ds, ms in quantities.items()}
        items.append(
            {
                "organizationId": org,
                "productId": product,
                "dimensions": {name: value for name, value in group_dims if value},
                "quantities": quantities,
            }
        )
    return items


class ExactFilter(BaseModel):
    """IV's exact query: `dimensions` names and `values` tuples; a row matches one tuple exactly."""

    model_config = ConfigDict(frozen=True)

    dimensions: tuple[str, ...] = Field(min_length=1, max_length=len(BASE_DIMENSIONS))
    values: tuple[tuple[str, ...], ...] = Field(min_length=1, max_length=MAX_FILTER_VALUES)

    @field_validator("dimensions", mode="before")
    @classmethod
    def _names(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.lower() in _DIM_BY_LOWER for v in value):
            raise ValueError(f"dimensions must be a list of base dimensions ({', '.join(BASE_DIMENSIONS)})")
        return tuple(_DIM_BY_LOWER[v.lower()] for v in value)

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: Any) -> tuple[tuple[str, ...], ...]:
        if not isinstance(value, list):
            raise ValueError("values must be a list of lists of dimension values")
        out = []
        for item in value:
            if not isinstance(item, list) or not all(isinstance(v, str) and KEY_TEXT.fullmatch(v) for v in item):
                raise ValueError(f"each entry of values must be a list of dimension values ({KEY_TEXT_RULE})")
            out.append(tuple(item))
        return tuple(out)

    @model_validator(mode="after")
    def _one_value_per_name(self) -> ExactFilter:
        if any(len(v) != len(self.dimensions) for v in self.values):
            raise ValueError("every entry of values needs one value per name in dimensions")
        return self

    def matches(self, dims: dict[str, str]) -> bool:
        return tuple(dims.get(name, "") for name in self.dimensions) in set(self.values)


def parse_exact_query(body: Any) -> tuple[IndexQuery, ExactFilter]:
    """Split an exact query into the index query part (organizationId, productId) and the exact tuples."""
    if not isinstance(body, dict) or not isinstance(body.get("filters"), dict):
        raise ValueError("filters must be an object")
    filters = {str(k).lower(): v for k, v in body["filters"].items()}
    exact = ExactFilter.model_validate(
        {"dimensions": filters.pop("dimensions", None), "values": filters.pop("values", None)}
    )
    index = IndexQuery.model_validate({**body, "filters": filters})
    if set(index.filters) - {"organizationId", "productId"}:
        raise ValueError("an exact query filters by organizationId, productId, dimensions and values only")
    return index, exact
