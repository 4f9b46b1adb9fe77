"""The compared row that flows from the engine through rules into every report."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .rules import Assessment, MeasureAssessment


# Not frozen: a frozen dataclass sets every field through object.__setattr__, which makes
# building one ~3x slower, and a run builds one per differing key. Nothing mutates it.
@dataclass(slots=True)
class Discrepancy:
    """One key at the comparison level that is not a plain match.

    ``key`` holds only the level's fields (text, never numbers); ``site`` may be
    filled from the ERP even when site is not part of the level, because a D365
    journal line needs it.
    """

    key: dict[str, str]
    site: str | None
    item_class: str | None
    unit_cost: Decimal | None
    assessment: Assessment
    consecutive_runs: int = 0
    audit: bool = False
    measures: dict[str, MeasureAssessment] | None = None
    """Other configured measures of this key (None when the run compares on-hand only)."""

    @property
    def item(self) -> str:
        return self.key["item"]

    @property
    def warehouse(self) -> str:
        return self.key.get("warehouse", "")
