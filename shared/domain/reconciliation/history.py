"""Consecutive out-of-balance runs per item and warehouse, from earlier summaries.

Each summary stores its own streaks, so the next run needs only the latest
valid earlier summary: the chain survives even when old summaries are pruned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
