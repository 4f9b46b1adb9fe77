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
