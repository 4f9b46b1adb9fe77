"""Classification and materiality rules, without any file."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from shared.domain.reconciliation.config import Materiality, ReconcileConfig, Side, Thresholds, parse_config
from shared.domain.reconciliation.rules import Category, assess, classify


def _assess(
    erp: str | None,
    wms: str | None,
    cost: str | None = "1",
    item: str = "I",
    cls: str | None = None,
    config: ReconcileConfig | None = None,
):
    return assess(
        erp_qty=None if erp is None else D(erp),
        wms_qty=None if wms is None else D(wms),
        unit_cost=None if cost is None else D(cost),
        item=item,
        item_class=cls,
        config=config or ReconcileConfig(),
    )


def test_classify() -> None:
    assert classify(D(1), D(1)) is Category.MATCH
    assert classify(D("1.0"), D(1)) is Category.MATCH
    assert classify(D(1), D(2)) is Category.QUANTITY_DIFFERS
    assert classify(None, D(2)) is Category.ONLY_IN_WMS
    assert classify(D(1), None) is Category.ONLY_IN_ERP
    assert classify(D(0), None) is Category.MATCH  # zero on one side, absent on the other
    assert classify(None, D("0.000")) is Category.MATCH
    with pytest.raises(ValueError):
        classify(None, None)


def test_default_value_threshold_weighs_quantity_by_cost() -> None:
    assert _assess("12", "11", cost="899.00").material
    assert not _assess("35", "31", cost="0.15").material
    assert _assess("35", "31", cost="0.15").value == D("-0.60")  # WMS - ERP


def test_zero_difference_is_never_material() -> None:
    cfg = ReconcileConfig(materiality=Materiality(quantity=D(0), percent=D(0), value=D(0)))
    assert not _assess("5", "5", config=cfg).material


def test_threshold_is_exceeded_only_when_strictly_greater() -> None:
    cfg = ReconcileConfig(materiality=Materiality(value=D(10)))
    assert not _assess("0", "10", cost="1", config=cfg).material
    assert _assess("0", "10.01", cost="1", config=cfg).material


def test_any_threshold_makes_material() -> None:
    cfg = ReconcileConfig(materiality=Materiality(quantity=D(5), percent=D(50), value=D(1000)))
    assert _assess("100", "94", cost="0.01", config=cfg).reasons == ("quantity 6 > 5",)
    pct = _assess("4", "2", cost="0.01", config=cfg)  # |2| / master 2 = 100 %
    assert pct.material and pct.reasons[0].startswith("percent")
    assert not _assess("100", "99", cost="1", config=cfg).material


def test_positive_and_negative_thresholds_are_separate() -> None:
    cfg = ReconcileConfig(
        materiality=Materiality(positive=Thresholds(quantity=D(10)), negative=Thresholds(quantity=D(1)))
    )
    assert not _assess("10", "15", config=cfg).material  # +5, WMS holds more
    assert _assess("15", "10", config=cfg).material  # -5


def test_item_override_beats_class_override_beats_default() -> None:
    cfg = ReconcileConfig(
        materiality=Materiality(value=D(50)),
        class_overrides={"CHEAP": Materiality(value=D(1000))},
        item_overrides={"SPECIAL": Materiality(quantity=D(0))},
    )
    assert _assess("0", "100", cost="1", item="X", config=cfg).material  # default: 100 > 50
    assert not _assess("0", "100", cost="1", item="X", cls="CHEAP", config=cfg).material
    assert _assess("0", "1", cost="0.01", item="SPECIAL", cls="CHEAP", config=cfg).material


def test_unknown_cost_is_material_by_default_and_configurable() -> None:
    assert _assess(None, "3", cost=None).material
    cfg = ReconcileConfig(unknown_cost_is_material=False)
    assert not _assess(None, "3", cost=None, config=cfg).material


def test_percent_is_measured_against_master() -> None:
    wms_master = _assess("50", "100", cost="0", config=ReconcileConfig(materiality=Materiality(percent=D(60))))
    assert wms_master.percent == D(50) and not wms_master.material
    erp_master = _assess(
        "50", "100", cost="0", config=ReconcileConfig(master=Side.ERP, materiality=Materiality(percent=D(60)))
    )
    assert erp_master.percent == D(100) and erp_master.material


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValidationError):
        ReconcileConfig.model_validate({"level": ["warehouse"]})
    with pytest.raises(ValidationError):
        ReconcileConfig.model_validate({"materiality": {"value": -1}})
    with pytest.raises(ValidationError):
        ReconcileConfig.model_validate({"masterr": "erp"})


def test_parse_config_json_and_toml() -> None:
    j = parse_config(b'{"master": "erp", "materiality": {"value": "25.5"}, "level": ["warehouse", "item"]}')
    assert j.master is Side.ERP
    assert j.materiality.negative.value == D("25.5")
    assert [k.value for k in j.level or []] == ["item", "warehouse"]
    t = parse_config(b'journal_mode = "counting"\n[wms]\nquantity = "qty_free"\n', "c.toml")
    assert t.journal_mode.value == "counting" and t.wms.quantity == "qty_free"
