"""`local.settings.json` handling the way `func start` does it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

_REFERENCE = re.compile(r"%([A-Za-z0-9_.:-]+)%")


def load_local_settings(path: Path) -> dict[str, str]:
    """Put the file's `Values` into the environment; variables already set win, like in Core Tools."""
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


def resolve(expression: str) -> str:
    """Resolve `%SETTING%` references from the environment; a missing setting is an error, as in the host."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise KeyError(f"app setting {name!r} is referenced by a trigger but not set")
        return os.environ[name]

    return _REFERENCE.sub(lookup, expression)
