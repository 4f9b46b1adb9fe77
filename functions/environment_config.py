"""The composition of an environment's configuration: stored, or the default from the app settings."""

from __future__ import annotations

from shared.adapters.config_store import ConfigStore
from shared.config import get_settings
from shared.domain.inventory_config import InventoryConfig
from shared.services.inventory_config import load_config


def config_and_default(environment_id: str) -> tuple[InventoryConfig, bool]:
    """The environment's configuration, and whether it is the default."""
    settings = get_settings()
    return load_config(ConfigStore(), environment_id, settings.allowed_data_sources, settings.allowed_physical_measures)


def config_of(environment_id: str) -> InventoryConfig:
    return config_and_default(environment_id)[0]


def no_data_yet(environment_id: str) -> str | None:
    """The words for a read of an environment nothing was ever posted to; None when it has data.

    An empty answer from such an environment usually means a wrong environment id or a step not taken yet, so
    it says so instead of answering an empty silence. Only called when a read found nothing.
    """
    from shared.adapters.ledger_tables import LedgerStore

    if LedgerStore().has_data(environment_id):
        return None
    return (
        f"environment {environment_id!r} has no data yet: no adjustment line, on-hand event or ERP transaction "
        "was ever posted to it (check the environment id)"
    )


DEFAULT_NOTICE = (
    "this environment has no configuration of its own yet: this is the default built from the app settings "
    "ALLOWED_DATA_SOURCES and ALLOWED_PHYSICAL_MEASURES; PUT a configuration to change it"
)
"""The same words for every environment: the answer differs from a configured one only where the state does."""
