"""Reading and replacing an environment's inventory configuration.

An environment that never stored one uses the default built from the app settings
(ALLOWED_DATA_SOURCES x ALLOWED_PHYSICAL_MEASURES), so ingest behaves the same before and after
the first configuration is written, until that configuration says otherwise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.adapters.config_store import ConfigStore
from shared.domain.inventory_config import InventoryConfig, default_config
from shared.domain.plain_errors import plain_problems

MAX_CONFIG_CHARS = 30_000
"""Table Storage keeps a string property up to 32K characters; the configuration is one property."""


class InvalidConfig(ValueError):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def load_config(
    store: ConfigStore, environment_id: str, data_sources: tuple[str, ...], measures: tuple[str, ...]
) -> tuple[InventoryConfig, bool]:
    """The environment's configuration and whether it is the default."""
    stored = store.get(environment_id)
    if stored is None:
        return default_config(data_sources, measures), True
    return InventoryConfig.model_validate(stored), False


def parse_config(raw: Any) -> InventoryConfig:
    """Validate a configuration; every reason comes back at once, with where it is."""
    try:
        config = InventoryConfig.model_validate(raw)
    except ValidationError as exc:
        raise InvalidConfig(plain_problems(exc.errors(include_url=False), "configuration")) from None
    if len(json.dumps(config.model_dump(mode="json"))) > MAX_CONFIG_CHARS:
        raise InvalidConfig([{"field": "config", "message": f"larger than {MAX_CONFIG_CHARS} characters"}])
    return config


def replace_config(store: ConfigStore, environment_id: str, raw: Any) -> InventoryConfig:
    config = parse_config(raw)
    store.put(environment_id, config.model_dump(mode="json"), datetime.now(UTC))
    return config
