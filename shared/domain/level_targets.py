"""Target systems that receive the ERP's inventory levels (Field Service and the like), per environment.

The ERP masters on-hand, on-order and ordered per product and warehouse; a target gets delta
journals so its levels match. Which products and ERP warehouses are ERP-mastered is chosen by
filters. The warehouse mapping says where an ERP warehouse's levels land in the target: one target
warehouse receives them; several target warehouses mapped onto one ERP warehouse are *target-mastered*
(the target keeps the detail and posts its adjustments to omnisync), so they receive no levels.
Validated here, with reasons, as part of the environment's inventory configuration.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.identifiers import VALUE_TEXT, VALUE_TEXT_RULE

LEVEL_MEASURES = ("onhand", "onorder", "ordered")
"""The levels the ERP publishes: physically recorded, on open sales orders, on open purchase orders."""
MAX_TARGETS = 10
MAX_FILTER_VALUES = 500
MAX_MAPPED_WAREHOUSES = 500
TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$")
TARGET_NAME_RULE = "2-32 lower-case letters, digits or '-', starting and ending with a letter or digit"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _value(value: object, field: str) -> str:
    if not isinstance(value, str) or not VALUE_TEXT.fullmatch(value):
        raise ValueError(f"{field} {str(value)[:40]!r} must be {VALUE_TEXT_RULE}")
    return value


class OutboxConnector(BaseModel):
    """Delta journals as files (JSON and CSV) in container `level-outbox`, for the target's import job."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["outbox"]


class HttpsConnector(BaseModel):
    """Delta journals POSTed as JSON to the target, with an `Idempotency-Key` (the file id) and retries."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["https"]
    url: str = Field(max_length=500)
    maxAttempts: int = Field(3, ge=1, le=10)
    """Attempts within one send (then the next send run tries again, after a growing delay)."""
    backoffSeconds: float = Field(1, ge=0, le=60)
    timeoutSeconds: float = Field(30, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        # Plain http only to this machine (local fakes); anything else must be encrypted.
        host = value.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0] if "://" in value else ""
        if value.startswith("https://") and host:
            return value
        if value.startswith("http://") and host in LOCAL_HOSTS:
            return value
        raise ValueError("url must be https:// (plain http only to localhost)")


class LevelTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    connector: OutboxConnector | HttpsConnector = Field(discriminator="type")
    dataSource: str = "fno"
    """The ERP's data source in the cache, whose level measures are sent."""
    measures: tuple[str, ...] = Field(LEVEL_MEASURES, min_length=1, max_length=len(LEVEL_MEASURES))
    products: tuple[str, ...] = Field((), max_length=MAX_FILTER_VALUES)
    """Product ids, or prefixes ending in `*`; empty means every product."""
    warehouses: tuple[str, ...] = Field((), max_length=MAX_FILTER_VALUES)
    """ERP warehouses (`locationId`) whose levels are sent; empty means every warehouse."""
    warehouseMapping: dict[str, tuple[str, ...]] = Field(default_factory=dict, max_length=MAX_MAPPED_WAREHOUSES)
    """ERP warehouse → target warehouses. Unmapped ERP warehouses keep their id in the target."""

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        if not isinstance(value, str) or not TARGET_NAME.fullmatch(value):
            raise ValueError(f"target name must be {TARGET_NAME_RULE}")
        return value

    @field_validator("measures", mode="before")
    @classmethod
    def _measures(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of {list(LEVEL_MEASURES)}")
        found = []
        for name in value:
            if not isinstance(name, str) or name.lower() not in LEVEL_MEASURES:
                raise ValueError(f"{str(name)[:40]!r} is not a level measure ({', '.join(LEVEL_MEASURES)})")
            found.append(name.lower())
        if len(set(found)) != len(found):
            raise ValueError("a measure is listed twice")
        return tuple(found)

    @field_validator("products", mode="before")
    @classmethod
    def _products(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of product ids or prefixes ending in *")
        out = []
        for item in value:
            text = item[:-1] if isinstance(item, str) and item.endswith("*") and len(item) > 1 else item
            _value(text, "product filter")
            out.append(item)
        return tuple(out)

    @field_validator("warehouses", mode="before")
    @classmethod
    def _warehouses(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of ERP warehouse ids")
        return tuple(_value(item, "warehouse") for item in value)

    @field_validator("warehouseMapping", mode="before")
    @classmethod
    def _mapping(cls, value: object) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, dict):
            raise ValueError("must be an object of ERP warehouse to a list of target warehouses")
        out: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for erp, targets in value.items():
            _value(erp, "ERP warehouse")
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, list | tuple) or not targets or len(targets) > MAX_MAPPED_WAREHOUSES:
                raise ValueError(f"{erp} must map to a target warehouse or a non-empty list of them")
            for target in targets:
                _value(target, "target warehouse")
                if target in owner:
                    raise ValueError(
                        f"target warehouse {target} is mapped from {owner[target]} and {erp}; "
                        "a target warehouse takes its levels from one ERP warehouse"
                    )
                owner[target] = erp
            out[erp] = tuple(targets)
        return out

    @model_validator(mode="after")
    def _filtered_out_mapping(self) -> LevelTarget:
        if self.warehouses:
            unused = [erp for erp in self.warehouseMapping if erp not in self.warehouses]
            if unused:
                raise ValueError(f"warehouseMapping maps {unused[:5]}, which the warehouses filter leaves out")
        return self

    # ---- what the rules say ------------------------------------------------------------------------
    def takes_product(self, product_id: str) -> bool:
        if not self.products:
            return True
        return any(product_id.startswith(p[:-1]) if p.endswith("*") else product_id == p for p in self.products)

    def receiving_warehouse(self, erp_warehouse: str) -> str | None:
        """The target warehouse that receives this ERP warehouse's levels; None when it receives none
        (filtered out, or target-mastered because several target warehouses map onto it)."""
        if self.warehouses and erp_warehouse not in self.warehouses:
            return None
        mapped = self.warehouseMapping.get(erp_warehouse)
        if mapped is None:
            return erp_warehouse
        return mapped[0] if len(mapped) == 1 else None

    def target_mastered(self) -> dict[str, tuple[str, ...]]:
        """ERP warehouse → the target warehouses that master it (they send adjustments, get no levels)."""
        return {erp: targets for erp, targets in self.warehouseMapping.items() if len(targets) > 1}


def target_problems(targets: tuple[LevelTarget, ...], physical: dict[str, tuple[str, ...]]) -> list[str]:
    """Cross-checks against the rest of the configuration; `physical` is data source → its measures (lower case)."""
    problems: list[str] = []
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        problems.append("a target is configured twice")
    for target in targets:
        measures = physical.get(target.dataSource.lower())
        if measures is None:
            problems.append(f"target {target.name} reads data source {target.dataSource}, which is not configured")
            continue
        missing = [m for m in target.measures if m not in measures]
        if missing:
            problems.append(
                f"target {target.name} sends {missing}, which are not physical measures of {target.dataSource}"
            )
    return problems
