"""Health check: can this instance reach the storage it depends on?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared import __version__

Probe = Callable[[], None]


@dataclass(frozen=True)
class HealthReport:
    version: str
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(state == "ok" for state in self.checks.values())

    def as_dict(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "degraded", "version": self.version, "storage": self.checks}


def check_health(probes: dict[str, Probe]) -> HealthReport:
    """Run each probe; a failing probe reports its exception type, never its message.

    Exception messages from the storage SDK can echo account names and request URLs, which an
    anonymous endpoint must not reveal.
    """
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    return HealthReport(version=__version__, checks=checks)
