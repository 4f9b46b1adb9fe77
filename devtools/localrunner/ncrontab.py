"""NCRONTAB schedules (six fields, seconds first) as used by Azure Functions timer triggers."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter


class ScheduleError(ValueError):
    """The schedule is not a six-field NCRONTAB expression."""


def validate(schedule: str) -> str:
    fields = schedule.split()
    if len(fields) != 6:
        raise ScheduleError(f"NCRONTAB needs six fields (second minute hour day month weekday): {schedule!r}")
    if not croniter.is_valid(schedule, second_at_beginning=True):
        raise ScheduleError(f"invalid NCRONTAB expression: {schedule!r}")
    return schedule


def next_fire(schedule: str, after: datetime | None = None) -> datetime:
    """Next UTC instant the schedule fires strictly after `after` (now by default)."""
    base = after or datetime.now(UTC)
    return croniter(validate(schedule), base, second_at_beginning=True).get_next(datetime)
