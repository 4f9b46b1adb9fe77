"""Adjustment lines as Inventory Visibility sends them, validated and normalised.

Keys are case-insensitive (IV's own API accepts any casing), quantities are exact decimals, and
every id or dimension value that becomes part of a table key is checked against one allow-list.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from shared.domain.identifiers import DIMENSION_NAME, KEY_TEXT, KEY_TEXT_RULE, VALUE_TEXT, VALUE_TEXT_RULE
from shared.domain.plain_errors import plain_field, plain_message
from shared.domain.quantities import REQUEST_JSON_SCHEMA, InvalidQuantity, canonical, parse_decimal

BASE_DIMENSIONS = (
    "siteId",
    "locationId",
    "colorId",
    "sizeId",
    "styleId",
    "configId",
    "batchId",
    "serialId",
    "statusId",
    "licensePlateId",
    "wmsLocationId",
)
_BASE_BY_LOWER = {name.lower(): name for name in BASE_DIMENSIONS}
MAX_DIMENSIONS = 30
MAX_TEXT = 200

FIELDS = (
    "id",
    "organizationId",
    "productId",
    "quantityDataSource",
    "physicalMeasure",
    "dimensions",
    "quantity",
    "externalReferenceCategory",
    "externalReferenceId",
    "fnoJournalNameId",
    "costPrice",
    "transDate",
    "createWithIVSync",
)
_FIELD_BY_LOWER = {name.lower(): name for name in FIELDS}


def _key_text(value: str, field: str) -> str:
    """A configuration name (data source, measure): `@iv` is fine, it never reaches a journal file."""
    if not isinstance(value, str) or not KEY_TEXT.fullmatch(value):
        raise ValueError(f"{field} must be {KEY_TEXT_RULE}")
    return value


def _value_text(value: str, field: str) -> str:
    """A free value that can reach the ERP's journal files: never one a spreadsheet would read as a formula."""
    if not isinstance(value, str) or not VALUE_TEXT.fullmatch(value):
        raise ValueError(f"{field} must be {VALUE_TEXT_RULE}")
    return value


_VALUE: dict[str, Any] = {"type": "string", "pattern": VALUE_TEXT.pattern}
_KEY: dict[str, Any] = {"type": "string", "pattern": KEY_TEXT.pattern}
_DIMENSIONS: dict[str, Any] = {
    "maxProperties": MAX_DIMENSIONS,
    "propertyNames": {"pattern": DIMENSION_NAME.pattern},
    "additionalProperties": {
        "anyOf": [{"type": "string", "pattern": VALUE_TEXT.pattern}, {"const": ""}, {"type": "null"}]
    },
}
"""The documented form of the checks below (OpenAPI schema of a request line); the validators stay the rule."""


class AdjustmentLine(BaseModel):
    """One validated line. Field names are IV's; values are normalised (canonical dimension names)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    id: str = Field(json_schema_extra=_VALUE)
    organizationId: str = Field(json_schema_extra=_VALUE)
    productId: str = Field(json_schema_extra=_VALUE)
    quantityDataSource: str = Field(json_schema_extra=_KEY)
    physicalMeasure: str = Field(json_schema_extra=_KEY)
    dimensions: dict[str, str] = Field(default_factory=dict, json_schema_extra=_DIMENSIONS)
    quantity: Annotated[Decimal, WithJsonSchema(REQUEST_JSON_SCHEMA)]
    externalReferenceCategory: str | None = Field(None, max_length=MAX_TEXT)
    externalReferenceId: str | None = Field(None, json_schema_extra={"anyOf": [_VALUE, {"type": "null"}]})
    fnoJournalNameId: str | None = Field(None, json_schema_extra={"anyOf": [_VALUE, {"type": "null"}]})
    costPrice: Annotated[Decimal, WithJsonSchema(REQUEST_JSON_SCHEMA)] | None = None
    transDate: date | None = None
    createWithIVSync: bool = False

    @field_validator("id", "organizationId", "productId", mode="before")
    @classmethod
    def _values(cls, value: Any, info: Any) -> str:
        return _value_text(value, info.field_name)

    @field_validator("quantityDataSource", "physicalMeasure", mode="before")
    @classmethod
    def _names(cls, value: Any, info: Any) -> str:
        return _key_text(value, info.field_name)

    @field_validator("externalReferenceId", "fnoJournalNameId", mode="before")
    @classmethod
    def _optional_values(cls, value: Any, info: Any) -> str | None:
        return None if value is None else _value_text(value, info.field_name)

    @field_validator("externalReferenceCategory", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or any(ord(c) < 32 for c in value):
            raise ValueError("must be text without control characters")
        return value

    @field_validator("quantity", "costPrice", mode="before")
    @classmethod
    def _decimal(cls, value: Any, info: Any) -> Decimal | None:
        if value is None and info.field_name == "costPrice":
            return None
        try:
            return parse_decimal(value, field=info.field_name)
        except InvalidQuantity as exc:
            raise ValueError(str(exc)) from None

    @field_validator("transDate", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        if not isinstance(value, str) or len(value) > 32:
            raise ValueError("must be an ISO date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError("must be an ISO date (YYYY-MM-DD)") from None

    @field_validator("createWithIVSync", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("must be true or false")

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimensions(cls, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must be an object of dimension name to value")
        if len(value) > MAX_DIMENSIONS:
            raise ValueError(f"at most {MAX_DIMENSIONS} dimensions")
        out: dict[str, str] = {}
        for name, dim_value in value.items():
            if not isinstance(name, str) or not DIMENSION_NAME.fullmatch(name):
                raise ValueError(f"dimension name {str(name)[:40]!r} must be letters, digits or _ (max 40)")
            canonical_name = _BASE_BY_LOWER.get(name.lower(), name)
            if canonical_name in out:
                raise ValueError(f"dimension {canonical_name} is given twice")
            if dim_value is None or dim_value == "":
                continue
            if not isinstance(dim_value, str):
                raise ValueError(f"dimension {canonical_name} must be text")
            out[canonical_name] = _value_text(dim_value, f"dimension {canonical_name}")
        return dict(sorted(out.items()))

    def content(self) -> dict[str, Any]:
        """What the line says, canonically: the basis of idempotency (the sync flag is not content)."""
        data = self.model_dump(mode="json", exclude={"createWithIVSync"})
        data["quantity"] = canonical(self.quantity)
        data["costPrice"] = None if self.costPrice is None else canonical(self.costPrice)
        return data

    def fingerprint(self) -> str:
        payload = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


class LineProblem(BaseModel):
    index: int | None
    field: str
    message: str


def normalise_keys(raw: Any) -> Any:
    """Map any casing of IV's field names to the canonical one; unknown keys stay as sent (and fail)."""
    if not isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _FIELD_BY_LOWER.get(key.lower(), key) if isinstance(key, str) else key
        if name in out:
            out[f"{name} (duplicate)"] = value
        else:
            out[name] = value
    return out


def parse_lines(
    raw_lines: list[Any],
    *,
    allowed_sources: tuple[str, ...],
    allowed_measures: tuple[str, ...],
    sync_all: bool = False,
) -> tuple[list[AdjustmentLine], list[LineProblem]]:
    """Validate every line; return all problems (index + field) so a client fixes them in one go."""
    lines: list[AdjustmentLine] = []
    problems: list[LineProblem] = []
    sources = {s.lower(): s for s in allowed_sources}
    measures = {m.lower(): m for m in allowed_measures}
    for index, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            problems.append(LineProblem(index=index, field="", message="each line must be a JSON object"))
            continue
        fields = normalise_keys(raw)
        try:
            line = AdjustmentLine.model_validate(fields)
        except ValidationError as exc:
            refused = set()
            for err in exc.errors(include_url=False):
                field = plain_field(err["loc"], "line")
                refused.add(field)
                problems.append(LineProblem(index=index, field=field, message=plain_message(err)))
            # a data source or measure that is well-formed but not configured is a problem of its own: report it
            # with the others, so the client fixes the line in one go
            for field, allowed in (("quantityDataSource", allowed_sources), ("physicalMeasure", allowed_measures)):
                value = fields.get(field)
                if field not in refused and isinstance(value, str) and value.lower() not in _lowered(allowed):
                    problems.append(_not_allowed(index, field, allowed))
            continue
        source = sources.get(line.quantityDataSource.lower())
        measure = measures.get(line.physicalMeasure.lower())
        if source is None:
            problems.append(_not_allowed(index, "quantityDataSource", allowed_sources))
        if measure is None:
            problems.append(_not_allowed(index, "physicalMeasure", allowed_measures))
        if source and measure:
            lines.append(
                line.model_copy(
                    update={
                        "quantityDataSource": source,
                        "physicalMeasure": measure,
                        "createWithIVSync": line.createWithIVSync or sync_all,
                    }
                )
            )
    return lines, problems


def _lowered(names: tuple[str, ...]) -> set[str]:
    return {n.lower() for n in names}


def _not_allowed(index: int, field: str, allowed: tuple[str, ...]) -> LineProblem:
    what = "data source" if field == "quantityDataSource" else "physical measure"
    return LineProblem(index=index, field=field, message=f"not an allowed {what}: {sorted(allowed)}")


def dimension_key(dimensions: dict[str, str]) -> str:
    """Canonical text of a dimension combination; the identity of a cache row within a product."""
    return "&".join(f"{name}={value}" for name, value in sorted(dimensions.items()))
