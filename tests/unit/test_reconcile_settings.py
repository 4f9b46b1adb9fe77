"""Reconciliation settings and the run-id rule at the edge."""

from __future__ import annotations

import pytest

from shared.config import SettingsError, get_settings, reset_settings
from shared.domain.reconciliation.config import JournalMode, ReconcileConfig, Side
from shared.services.reconcile_blobs import valid_run_id


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "RECONCILE_MASTER",
        "RECONCILE_JOURNAL_MODE",
        "RECONCILE_MATERIALITY_VALUE",
        "RECONCILE_CONFIG",
        "RECONCILE_CURRENCY",
    ):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    reset_settings()


def test_defaults_are_wms_master_movement_lines_and_value_50() -> None:
    config = ReconcileConfig.model_validate(get_settings().reconcile_defaults())
    assert config.master is Side.WMS
    assert config.journal_mode is JournalMode.MOVEMENT
    assert str(config.materiality.positive.value) == "50" and str(config.materiality.negative.value) == "50"


def test_settings_and_json_config_combine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_MASTER", "erp")
    monkeypatch.setenv("RECONCILE_MATERIALITY_VALUE", "12.5")
    monkeypatch.setenv("RECONCILE_CONFIG", '{"journal_mode": "counting", "audit_after_runs": 5}')
    config = ReconcileConfig.model_validate(get_settings().reconcile_defaults())
    assert config.master is Side.ERP
    assert config.journal_mode is JournalMode.COUNTING
    assert config.audit_after_runs == 5
    assert str(config.materiality.negative.value) == "12.5"


def test_currency_setting_reaches_the_run_config_and_a_run_config_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ReconcileConfig.model_validate(get_settings().reconcile_defaults()).currency is None
    monkeypatch.setenv("RECONCILE_CURRENCY", "EUR")
    reset_settings()
    defaults = get_settings().reconcile_defaults()
    assert ReconcileConfig.model_validate(defaults).currency == "EUR"
    assert ReconcileConfig.model_validate({**defaults, "currency": "USD"}).currency == "USD"


@pytest.mark.parametrize("code", ["eur", "EU", "€", "EUR "])
def test_a_run_config_currency_must_be_an_iso_code(code: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        ReconcileConfig.model_validate({"currency": code})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECONCILE_CONFIG", "{not json"),
        ("RECONCILE_CONFIG", "[1]"),
        ("RECONCILE_MASTER", "both"),
        ("RECONCILE_MATERIALITY_VALUE", "-1"),
        ("RECONCILE_JOURNAL_MODE", "post"),
        ("RECONCILE_CURRENCY", "eur"),
        ("RECONCILE_CURRENCY", "EURO"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        get_settings()


@pytest.mark.parametrize("run_id", ["a", "sample-20261123-110000", "R_1.2", "x" * 64])
def test_valid_run_ids(run_id: str) -> None:
    assert valid_run_id(run_id)


@pytest.mark.parametrize("run_id", ["", "x" * 65, "-a", ".hidden", "a/b", "a b", "a$b", "ü"])
def test_invalid_run_ids(run_id: str) -> None:
    assert not valid_run_id(run_id)
