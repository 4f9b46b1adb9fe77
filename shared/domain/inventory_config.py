"""An environment's inventory configuration, in the spirit of Inventory Visibility's.

Data sources and their physical measures, dimension mappings (a source's own dimension names onto
base dimensions), calculated measures (signed sums of physical measures) and offset rules. All
names are matched case-insensitively at the edge and stored in the configured spelling. A bad
configuration is refused whole, with every reason, so nothing half-valid is ever in force.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.domain.adjustments import BASE_DIMENSIONS
from shared.domain.identifiers import DIMENSION_NAME, KEY_TEXT, KEY_TEXT_RULE
from shared.domain.level_targets import MAX_TARGETS, LevelTarget, target_problems
from shared.domain.quantities import canonical

MAX_DATA_SOURCES = 50
MAX_MEASURES = 50
MAX_CALCULATED = 50
MAX_MODIFIERS = 50
_BASE_BY_LOWER = {name.lower(): name for name in BASE_DIMENSIONS}

PRODUCT_DIMENSIONS = ("colorId", "sizeId", "styleId", "configId")
"""Always matched exactly by an offset: a red shirt never offsets a blue one."""
STORAGE_DIMENSIONS = ("siteId", "locationId", "statusId", "wmsLocationId", "licensePlateId", "batchId", "serialId")
"""Storage and tracking dimensions an offset rule may check or leave unchecked."""

TransactionType = Literal["salesOrder", "adjustmentJournal"]
TRIGGERS: dict[str, tuple[str, ...]] = {"salesOrder": ("Create", "Invoice"), "adjustmentJournal": ("Create", "Post")}
"""Each transaction type's statuses, in the order a transaction goes through them."""


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not KEY_TEXT.fullmatch(value) or "/" in value:
        raise ValueError(f"{field} must be {KEY_TEXT_RULE}")
    return value


def base_dimension(name: str) -> str | None:
    return _BASE_BY_LOWER.get(name.lower())


class DataSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    physicalMeasures: tuple[str, ...] = Field(min_length=1, max_length=MAX_MEASURES)
    dimensionMappings: dict[str, str] = Field(default_factory=dict, max_length=len(BASE_DIMENSIONS) * 2)

    @field_validator("name", mode="before")
    @classmethod
    def _source_name(cls, value: object) -> str:
        return _name(value, "data source name")

    @field_validator("physicalMeasures", mode="before")
    @classmethod
    def _measures(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of measure names")
        names = tuple(_name(v, "physical measure") for v in value)
        lowered = [n.lower() for n in names]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a physical measure is listed twice")
        return names

    @field_validator("dimensionMappings", mode="before")
    @classmethod
    def _mappings(cls, value: object) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ValueError("must be an object of source dimension name to base dimension")
        out: dict[str, str] = {}
        for source, target in value.items():
            if not isinstance(source, str) or not DIMENSION_NAME.fullmatch(source):
                raise ValueError(f"dimension name {str(source)[:40]!r} must be letters, digits or _ (max 40)")
            base = base_dimension(target) if isinstance(target, str) else None
            if base is None:
                raise ValueError(
                    f"{source} maps to {str(target)[:40]!r}, which is not a base dimension "
                    f"({', '.join(BASE_DIMENSIONS)})"
                )
            if source.lower() in (k.lower() for k in out):
                raise ValueError(f"dimension {source} is mapped twice")
            out[source] = base
        return out

    def measure(self, name: str) -> str | None:
        """The configured spelling of a physical measure, matched case-insensitively."""
        return next((m for m in self.physicalMeasures if m.lower() == name.lower()), None)

    def map_dimension(self, name: str) -> str | None:
        target = next((t for s, t in self.dimensionMappings.items() if s.lower() == name.lower()), None)
        return target or base_dimension(name)


class Modifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataSource: str
    physicalMeasure: str
    calculationType: Literal["Addition", "Subtraction"]

    @field_validator("dataSource", "physicalMeasure", mode="before")
    @classmethod
    def _names(cls, value: object, info: ValidationInfo) -> str:
        return _name(value, info.field_name or "name")


class CalculatedMeasure(BaseModel):
    """A signed sum of physical measures, reported under its own data source name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataSource: str
    name: str
    modifiers: tuple[Modifier, ...] = Field(min_length=1, max_length=MAX_MODIFIERS)

    @field_validator("dataSource", "name", mode="before")
    @classmethod
    def _names(cls, value: object, info: ValidationInfo) -> str:
        return _name(value, f"calculated measure {info.field_name}")


class OffsetRule(BaseModel):
    """How ERP transactions of one type take a change off one measure, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transactionType: TransactionType
    offsetDataSource: str
    offsetPhysicalMeasure: str
    trigger: str
    checkedDimensions: tuple[str, ...] = STORAGE_DIMENSIONS

    @field_validator("checkedDimensions", mode="before")
    @classmethod
    def _checked(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of storage or tracking dimensions")
        out = []
        for name in value:
            base = base_dimension(name) if isinstance(name, str) else None
            if base not in STORAGE_DIMENSIONS:
                raise ValueError(
                    f"{str(name)[:40]!r} is not a storage or tracking dimension "
                    f"({', '.join(STORAGE_DIMENSIONS)}); product dimensions always match"
                )
            out.append(base)
        return tuple(dict.fromkeys(out))

    @model_validator(mode="after")
    def _trigger(self) -> OffsetRule:
        allowed = TRIGGERS[self.transactionType]
        if self.trigger not in allowed:
            raise ValueError(f"trigger of a {self.transactionType} must be one of {list(allowed)}")
        return self


class InventoryConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataSources: tuple[DataSource, ...] = Field(min_length=1, max_length=MAX_DATA_SOURCES)
    calculatedMeasures: tuple[CalculatedMeasure, ...] = Field((), max_length=MAX_CALCULATED)
    offsets: tuple[OffsetRule, ...] = Field((), max_length=20)
    targets: tuple[LevelTarget, ...] = Field((), max_length=MAX_TARGETS)
    """Target systems that receive the ERP's levels as delta journals (see level_targets.py)."""

    @model_validator(mode="after")
    def _consistent(self) -> InventoryConfig:
        problems: list[str] = []
        lowered = [s.name.lower() for s in self.dataSources]
        if len(set(lowered)) != len(lowered):
            problems.append("a data source is configured twice")
        calculated = {(c.dataSource.lower(), c.name.lower()) for c in self.calculatedMeasures}
        if len(calculated) != len(self.calculatedMeasures):
            problems.append("a calculated measure is configured twice")
        for measure in self.calculatedMeasures:
            label = f"calculated measure {measure.dataSource}/{measure.name}"
            source = self.source(measure.dataSource)
            if source is not None and source.measure(measure.name):
                problems.append(f"{label} has the name of a physical measure of {source.name}")
            seen: set[tuple[str, str]] = set()
            for mod in measure.modifiers:
                key = (mod.dataSource.lower(), mod.physicalMeasure.lower())
                ref = f"{mod.dataSource}/{mod.physicalMeasure}"
                if key in calculated:
                    problems.append(f"{label} contains {ref}, which is a calculated measure itself")
                elif self.physical(mod.dataSource, mod.physicalMeasure) is None:
                    problems.append(f"{label} contains {ref}, which is not a configured physical measure")
                if key in seen:
                    problems.append(f"{label} contains {ref} twice")
                seen.add(key)
        rules: set[tuple[str, str, str]] = set()
        for rule in self.offsets:
            ref = f"{rule.offsetDataSource}/{rule.offsetPhysicalMeasure}"
            if self.physical(rule.offsetDataSource, rule.offsetPhysicalMeasure) is None:
                problems.append(
                    f"offset of {rule.transactionType} uses {ref}, which is not a configured physical measure"
                )
            rule_key = (rule.transactionType, rule.offsetDataSource.lower(), rule.offsetPhysicalMeasure.lower())
            if rule_key in rules:
                problems.append(f"offset of {rule.transactionType} on {ref} is configured twice")
            rules.add(rule_key)
        physical = {s.name.lower(): tuple(m.lower() for m in s.physicalMeasures) for s in self.dataSources}
        problems += target_problems(self.targets, physical)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source(self, name: str) -> DataSource | None:
        return next((s for s in self.dataSources if s.name.lower() == name.lower()), None)

    def physical(self, data_source: str, measure: str) -> tuple[str, str] | None:
        """The configured spelling of a physical measure, or None when it is not configured."""
        source = self.source(data_source)
        found = source.measure(measure) if source else None
        return (source.name, found) if source and found else None

    def offset_rule(self, transaction_type: str, data_source: str, measure: str) -> OffsetRule | None:
        return next(
            (
                r
                for r in self.offsets
                if r.transactionType == transaction_type
                and r.offsetDataSource.lower() == data_source.lower()
                and r.offsetPhysicalMeasure.lower() == measure.lower()
            ),
            None,
        )

    def target(self, name: str) -> LevelTarget | None:
        return next((t for t in self.targets if t.name == name), None)

    def data_source_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.dataSources)

    def measure_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for s in self.dataSources for m in s.physicalMeasures))


def default_config(data_sources: tuple[str, ...], measures: tuple[str, ...]) -> InventoryConfig:
    """Until an environment stores its own: every allowed data source with every allowed measure."""
    return InventoryConfig(dataSources=tuple(DataSource(name=s, physicalMeasures=measures) for s in data_sources))


def calculated_quantities(config: InventoryConfig, quantities: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each calculated measure from summed physical quantities; a missing physical measure counts 0."""
    lowered = {ds.lower(): {m.lower(): q for m, q in ms.items()} for ds, ms in quantities.items()}
    out: dict[str, dict[str, str]] = {}
    for measure in config.calculatedMeasures:
        total = Decimal(0)
        for mod in measure.modifiers:
            value = Decimal(lowered.get(mod.dataSource.lower(), {}).get(mod.physicalMeasure.lower(), "0"))
            total += value if mod.calculationType == "Addition" else -value
        out.setdefault(measure.dataSource, {})[measure.name] = canonical(total)
    return out
