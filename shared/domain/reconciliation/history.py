"""Consecutive out-of-balance runs per item and warehouse, from earlier summaries.

Each summary stores its own streaks, so the next run needs only the latest
valid earlier summary: the chain survives even when old summaries are pruned.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring  # the encoder json.dumps(ensure_ascii=False) uses
from typing import Any, overload

from shared.domain.reconciliation.json_text import list_items, skip_whitespace

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


def streaks_by_scope(history: Sequence[Mapping[str, Any]], run_id: str) -> JoinedStreaks:
    """Streaks before this run, each warehouse taken from the newest earlier run that covered it.

    A run filtered to other warehouses (another team's, another scope) says nothing about this
    warehouse's balance, so it must neither extend nor break its streak. A run covers the
    warehouses listed in its ``by_warehouse``; older summaries without it cover everything.
    Entries are read one at a time (a summary read for history holds them as text).
    """
    out: dict[str, int] = {}
    for summary, fresh, decided in _deciding(history, run_id):
        entries = summary.get("out_of_balance", [])
        pairs = entries.pairs() if isinstance(entries, OutOfBalanceEntries) else _pairs_of(entries)
        for key, runs in pairs:
            wh = key[1]
            if wh in decided or (fresh is not None and wh not in fresh):
                continue
            out[_joined(key)] = runs
    return JoinedStreaks(out)


def _deciding(
    history: Sequence[Mapping[str, Any]], run_id: str
) -> Iterator[tuple[Mapping[str, Any], set[str] | None, set[str]]]:
    """The summaries whose streaks count, newest first: each with the warehouses it decides (None: every
    warehouse not decided yet) and those decided before it (the live set: read it before the next step)."""
    decided: set[str] = set()
    for summary in _ok_earlier(history, run_id):
        by_wh = summary.get("by_warehouse")
        covered = set(by_wh) if isinstance(by_wh, Mapping) else None
        fresh = None if covered is None else covered - decided
        if fresh is None or fresh:
            yield summary, fresh, decided
        if covered is None:
            return
        decided |= covered


def without_unused_streaks(
    history: Sequence[Mapping[str, Any]],
    run_id: str,
    load: Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]] | None] | None = None,
) -> list[dict[str, Any]]:
    """``history`` with the streak list dropped from every summary ``streaks_by_scope`` would not read,
    and ``load``-ed into every brief (a summary read without it, ``out_of_balance_count`` > 0) it would.

    Only the newest run covering a warehouse gives its streaks, so after a run that covered every
    warehouse the older summaries' lists are never read: twelve bad days of history held twelve
    lists of 300,000 entries (~15 MB of text each) while the run streamed, and the run peaked at
    510 MB instead of 361 MB; read from briefs, they are not even downloaded. The same walk as
    ``streaks_by_scope`` (``_deciding``) picks what stays; the rest of each summary (totals for the
    trend, coverage) stays too. A run whose list ``load`` cannot read is left out of the history, as a
    run whose summary cannot be read always was: the next older run covering its warehouses decides.
    """
    history = list(history)
    loaded: dict[int, Sequence[Mapping[str, Any]]] = {}
    while True:
        deciding = [summary for summary, _, _ in _deciding(history, run_id)]
        brief = next((s for s in deciding if _is_brief(s) and id(s) not in loaded), None)
        if brief is None or load is None:
            break
        entries = load(brief)
        if entries is None:
            history = [s for s in history if s is not brief]
        else:
            loaded[id(brief)] = entries
    needed = {id(summary) for summary in deciding}
    out: list[dict[str, Any]] = []
    for s in history:
        if id(s) not in needed:
            dropped = bool(s.get("out_of_balance"))
            out.append({**s, "out_of_balance": OutOfBalanceEntries("[]", 0)} if dropped else dict(s))
        elif id(s) in loaded:
            out.append({**s, "out_of_balance": loaded[id(s)]})
        else:
            out.append(dict(s))
    return out


def _is_brief(summary: Mapping[str, Any]) -> bool:
    """A summary read from its brief: it has streaks, but not their list."""
    return "out_of_balance" not in summary and bool(summary.get("out_of_balance_count"))


def first_entries(entries: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first ``n`` entries of a streak or flag list, decoding no more than those when it is text."""
    if isinstance(entries, OutOfBalanceEntries):
        return list(itertools.islice(entries.decoded(), n))
    return list(entries[:n])


class JoinedStreaks:
    """Streaks by (item, warehouse), each key stored as one string.

    After a bad day the previous run has 300,000 keys out of balance, and this run holds them while
    it streams: as tuples of two strings they took ~60 MB more than as one string each."""

    __slots__ = ("_runs",)

    def __init__(self, runs: dict[str, int]) -> None:
        self._runs = runs

    def get(self, key: HistoryKey, default: int, /) -> int:
        return self._runs.get(_joined(key), default)

    @property
    def joined_runs(self) -> Mapping[str, int]:
        """The streaks by joined key (``joined_key``), for a caller that looks up 300,000 keys inline."""
        return self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JoinedStreaks):
            return self._runs == other._runs
        if isinstance(other, Mapping):
            return len(other) == len(self._runs) and all(self.get(k, -1) == n for k, n in other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to dicts, so not hashable


def _joined(key: HistoryKey) -> str:
    return joined_key(key[0], key[1])


def joined_key(item: str, warehouse: str) -> str:
    """One string per key, unambiguous whatever the ids hold (the item's length first)."""
    return f"{len(item)}:{item}{warehouse}"


def _pairs_of(entries: Iterable[Mapping[str, Any]]) -> Iterator[tuple[HistoryKey, int]]:
    for entry in entries:
        yield (str(entry["item"]), str(entry.get("warehouse", ""))), int(entry.get("runs", 1))


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


class OutOfBalanceEntries(Sequence[dict[str, Any]]):
    """A summary's ``out_of_balance`` list held as its JSON text, one compact string.

    On a bad day 300,000 keys are out of balance: as a list of dicts that is ~100 MB of Python
    objects, as text ~13 MB. Reading it (history, tests) parses the text; ``json_text`` goes into
    summary.json as it is.
    """

    def __init__(self, json_text: str, count: int) -> None:
        self.json_text = json_text
        self._count = count

    def __len__(self) -> int:
        return self._count

    def _entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(self.json_text)
        return entries

    def decoded(self) -> Iterator[dict[str, Any]]:
        """Each entry as ``json.loads`` gives it, decoded one at a time."""
        text = self.json_text
        yield from list_items(text, skip_whitespace(text, 0))

    def pairs(self) -> Iterator[tuple[HistoryKey, int]]:
        """((item, warehouse), runs) of each entry, decoded one at a time: never the whole list."""
        for entry in self.decoded():
            yield (str(entry["item"]), str(entry.get("warehouse", ""))), int(entry.get("runs", 1))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._entries()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._entries())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OutOfBalanceEntries):
            return self.json_text == other.json_text
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-like: equal to lists, so not hashable


class OutOfBalanceLog:
    """This run's streaks, recorded as its differing keys stream by, kept as JSON text.

    Keys usually arrive sorted by (item, warehouse) (the engine sorts by the level, which starts
    with item and has warehouse next unless site sits between): then each entry becomes text at
    once and a repeat of the previous key (several batches of one item and warehouse) is skipped.
    Keys out of that order (site in the level, ids shown as spelled) switch to a dict that is
    sorted at the end, which is what summaries always held: entries sorted by (item, warehouse).
    """

    def __init__(self, audit_after: int) -> None:
        self._audit_after = audit_after
        self._chunks: list[str] = []  # joined runs of entries: one string each, not 300,000 small ones
        self._parts: list[str] = []
        self._last: HistoryKey | None = None
        self._unsorted: dict[HistoryKey, int] | None = None
        self._count = 0
        # keys at or past the audit threshold, as entry text per streak length, in key order: from the
        # third bad day in a row that is every differing key, and as tuples (then dicts in the summary)
        # 300,000 of them took the run to 530 MB
        self._flagged: dict[int, tuple[list[str], list[str]]] = {}  # runs -> (joined chunks, entries)
        self._flagged_count = 0

    def add(self, key: HistoryKey, runs: int) -> None:
        self.add_many((key,), (runs,))

    def add_many(self, keys: Sequence[HistoryKey], runs: Sequence[int], entries: Sequence[str] | None = None) -> None:
        """``add`` for each key in turn, in one call: a bad day streams 300,000 keys, and one call
        per batch with the log's state in locals costs a third of one call per key. ``entries``: each
        key's entry text already made (``difference_texts`` makes them in the engine), else made here."""
        if self._unsorted is not None:
            self._unsorted.update(zip(keys, runs, strict=True))
            return
        if entries is not None and keys and self._strictly_after_last(keys):
            self._add_in_order(keys, runs, entries)
            return
        last, parts, count, audit_after = self._last, self._parts, self._count, self._audit_after
        s = encode_basestring
        for i, key in enumerate(keys):
            if last is not None and key <= last:
                if key == last:
                    continue
                self._last, self._parts, self._count = last, parts, count
                self._unsorted = dict(self._pairs())
                self._unsorted.update(zip(keys[i:], runs[i:], strict=True))
                return
            last = key
            count += 1
            n = runs[i]
            entry = entries[i] if entries is not None else f'{{"item":{s(key[0])},"warehouse":{s(key[1])},"runs":{n}}}'
            parts.append(entry)
            if len(parts) == 4096:
                self._chunks.append(",".join(parts))
                parts = []
            if n >= audit_after:
                chunks, flagged = self._flagged.setdefault(n, ([], []))
                flagged.append(entry)
                self._flagged_count += 1
                if len(flagged) == 4096:  # a few joined strings, not 300,000 small ones
                    chunks.append(",".join(flagged))
                    flagged.clear()
        self._last, self._parts, self._count = last, parts, count

    def _strictly_after_last(self, keys: Sequence[HistoryKey]) -> bool:
        """Every key after the one before it, the first after the log's last (C-level comparisons)."""
        return (self._last is None or keys[0] > self._last) and all(map(operator.lt, keys, keys[1:]))

    def _add_in_order(self, keys: Sequence[HistoryKey], runs: Sequence[int], entries: Sequence[str]) -> None:
        """``add_many`` for keys in strict order with their entries made: no key is a repeat, so the
        entries go in whole (the same text as one at a time; chunk boundaries do not show in it)."""
        parts = self._parts
        parts.extend(entries)
        while len(parts) >= 4096:
            self._chunks.append(",".join(parts[:4096]))
            del parts[:4096]
        self._last = keys[-1]
        self._count += len(keys)
        audit_after = self._audit_after
        for n, entry in zip(runs, entries, strict=True):
            if n >= audit_after:
                chunks, flagged = self._flagged.setdefault(n, ([], []))
                flagged.append(entry)
                self._flagged_count += 1
                if len(flagged) == 4096:
                    chunks.append(",".join(flagged))
                    flagged.clear()

    def _text(self) -> str:
        return "[" + ",".join([*self._chunks, *([",".join(self._parts)] if self._parts else [])]) + "]"

    def _pairs(self) -> Iterator[tuple[HistoryKey, int]]:
        for entry in json.loads(self._text()):
            yield (entry["item"], entry["warehouse"]), entry["runs"]

    def entries(self) -> OutOfBalanceEntries:
        """Entries sorted by (item, warehouse), as summary.json holds them."""
        if self._unsorted is not None:
            pairs = sorted(self._unsorted.items())
            self._unsorted = None
            self._chunks, self._parts, self._last, self._count = [], [], None, 0
            self._flagged, self._flagged_count = {}, 0
            for key, runs in pairs:
                self.add(key, runs)
        text = self._text()
        self._chunks, self._parts = [], []
        return OutOfBalanceEntries(text, self._count)

    def flagged_entries(self) -> OutOfBalanceEntries:
        """Keys at or past the audit threshold, most runs first, then by key (call after ``entries``).

        Each streak length's entries arrived in key order, so the lengths in descending order give
        exactly ``sorted(key=(-runs, key))``, as text."""
        chunks = [
            ",".join([*self._flagged[runs][0], *self._flagged[runs][1]]) for runs in sorted(self._flagged, reverse=True)
        ]
        return OutOfBalanceEntries("[" + ",".join(chunks) + "]", self._flagged_count)
