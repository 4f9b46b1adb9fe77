"""Health check: can this instance reach the storage it depends on?"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from shared import __version__

log = logging.getLogger(__name__)

Probe = Callable[[], None]


@dataclass(frozen=True)
class HealthReport:
    version: str
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(state == "ok" for state in self.checks.values())

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "unavailable" if all(state != "ok" for state in self.checks.values()) else "degraded"

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "version": self.version, "storage": self.checks}


def check_health(probes: dict[str, Probe]) -> HealthReport:
    """Run each probe; a failing probe reports `unavailable`, nothing more (the reason goes to the log).

    Exception messages from the storage SDK can echo account names and request URLs, and even class
    names tell an anonymous caller which SDK and transport answer; the endpoint reveals neither.
    """
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            log.warning("health: %s storage probe failed: %s", name, type(exc).__name__)
            checks[name] = "unavailable"
    return HealthReport(version=__version__, checks=checks)
