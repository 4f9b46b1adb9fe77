"""Consecutive out-of-balance runs per item and warehouse, from earlier summaries.

Each summary stores its own streaks, so the next run needs only the latest
valid earlier summary: the chain survives even when old summaries are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

HistoryKey = tuple[str, str]  # (item, warehouse)


def latest_previous(history: Sequence[Mapping[str, Any]], run_id: str) -> Mapping[str, Any] | None:
    """The newest successful summary that is not this run.

    ``history`` is oldest first. The current run id is skipped so a re-fired
    trigger on the same snapshots does not count itself twice; error runs are
    skipped because they say nothing about balance.
    """
    summary: Mapping[str, Any]
    for summary in reversed(history):
        if summary.get("run_id") == run_id or summary.get("status", "ok") != "ok":
            continue
        return summary
    return None


def previous_streaks(previous: Mapping[str, Any] | None) -> dict[HistoryKey, int]:
    if previous is None:
        return {}
    out: dict[HistoryKey, int] = {}
    for entry in previous.get("out_of_balance", []):
        out[(str(entry["item"]), str(entry.get("warehouse", "")))] = int(entry.get("runs", 1))
    return out


def update_streaks(
    history: Sequence[Mapping[str, Any]], run_id: str, out_of_balance_now: Iterable[HistoryKey]
) -> dict[HistoryKey, int]:
    """Streak after this run for every key out of balance now (others reset to 0)."""
    before = previous_streaks(latest_previous(history, run_id))
    return {key: before.get(key, 0) + 1 for key in set(out_of_balance_now)}


def flagged_for_audit(streaks: Mapping[HistoryKey, int], after_runs: int) -> list[tuple[HistoryKey, int]]:
    """Keys unbalanced for at least ``after_runs`` consecutive runs, sorted for stable reports."""
    return sorted(((k, n) for k, n in streaks.items() if n >= after_runs), key=lambda kv: (-kv[1], kv[0]))


def trend(history: Sequence[Mapping[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """Per earlier successful run: the figures the HTML trend chart needs (oldest first)."""
    rows: list[dict[str, Any]] = []
    for s in history:
        if s.get("run_id") == run_id or s.get("status", "ok") != "ok":
            continue
        counts = s.get("counts", {})
        totals = s.get("totals", {})
        rows.append(
            {
                "run_id": str(s.get("run_id", "")),
                "material": int(counts.get("material", 0)),
                "differences": int(counts.get("differences", 0)),
                "abs_value_difference": str(totals.get("abs_value_difference", "0")),
            }
        )
    return rows


def _ok_earlier(history: Sequence[Mapping[str, Any]], run_id: str) -> list[Mapping[str, Any]]:
    """Successful summaries other than this run, newest first."""
    return [s for s in reversed(history) if s.get("run_id") != run_id and s.get("status", "ok") == "ok"]


def streaks_by_scope(history: Sequence[Mapping[str, Any]], run_id: str) -> dict[HistoryKey, int]:
    """Streaks before this run, each warehouse taken from the newest earlier run that covered it.

    A run filtered to other warehouses (another team's, another scope) says nothing about this
    warehouse's balance, so it must neither extend nor break its streak. A run covers the
    warehouses listed in its ``by_warehouse``; older summaries without it cover everything.
    """
    out: dict[HistoryKey, int] = {}
    decided: set[str] = set()
    covers_all = False
    for summary in _ok_earlier(history, run_id):
        if covers_all:
            break
        by_wh = summary.get("by_warehouse")
        covered = set(by_wh) if isinstance(by_wh, Mapping) else None
        fresh = None if covered is None else covered - decided
        for entry in summary.get("out_of_balance", []):
            wh = str(entry.get("warehouse", ""))
            if wh in decided or (fresh is not None and wh not in fresh):
                continue
            out[(str(entry["item"]), wh)] = int(entry.get("runs", 1))
        if covered is None:
            covers_all = True
        else:
            decided |= covered
    return out


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def trend_direction(
    history: Sequence[Mapping[str, Any]], run_id: str, abs_value_difference: Decimal, material: int
) -> dict[str, Any]:
    """Rising, falling or flat against the newest earlier successful run.

    Compared on the absolute value out of balance (then the number of material keys when the
    values are equal): falling is good, rising is a red flag. ``None`` without an earlier run.
    """
    earlier = _ok_earlier(history, run_id)
    if not earlier:
        return {"direction": None, "previous_run_id": None, "previous_abs_value_difference": None}
    prev = earlier[0]
    prev_value = _decimal(prev.get("totals", {}).get("abs_value_difference", "0")) or Decimal(0)
    prev_material = int(prev.get("counts", {}).get("material", 0))
    current = (abs_value_difference, material)
    before = (prev_value, prev_material)
    direction = "rising" if current > before else "falling" if current < before else "flat"
    return {
        "direction": direction,
        "previous_run_id": str(prev.get("run_id", "")),
        "previous_abs_value_difference": str(prev.get("totals", {}).get("abs_value_difference", "0")),
        "previous_material": prev_material,
    }
