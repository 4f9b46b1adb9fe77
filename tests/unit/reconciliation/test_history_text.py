"""An earlier summary read for history keeps its streaks as text, and they are looked up in order."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from shared.domain.reconciliation.history import OutOfBalanceEntries, streaks_by_scope, without_unused_streaks
from shared.domain.reconciliation.summary_text import parse_summary

ENTRIES = [
    {"item": 'A]"[x', "warehouse": "1", "runs": 2},
    {"item": "B\\", "warehouse": "WH,{2}", "runs": 1},
    {"item": "Ä0417", "warehouse": "", "runs": 7},
]


def _summary(entries: list[dict], **extra: object) -> dict:
    return {
        "schema": "s/1",
        "run_id": "r1",
        "status": "ok",
        "out_of_balance": entries,
        "journal": {"x": [1, 2]},
        **extra,
    }


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(_summary(ENTRIES), ensure_ascii=False, separators=(",", ":")),
        json.dumps(_summary(ENTRIES), indent=2),
        json.dumps(_summary([])),
        json.dumps({"out_of_balance": ENTRIES}),
        json.dumps({"run_id": "r", "note": '"out_of_balance":[1]', "out_of_balance": ENTRIES}),
        json.dumps({"run_id": "r"}),
        " \n" + json.dumps(_summary(ENTRIES)) + "\n",
    ],
)
def test_a_summary_read_for_history_equals_json_loads_with_its_streaks_as_text(text: str) -> None:
    parsed = parse_summary(text)
    assert parsed == json.loads(text)
    if "out_of_balance" in parsed:
        assert isinstance(parsed["out_of_balance"], OutOfBalanceEntries)
        assert list(parsed["out_of_balance"].pairs()) == [
            ((e["item"], e["warehouse"]), e["runs"]) for e in json.loads(text)["out_of_balance"]
        ]


@pytest.mark.parametrize(
    "text",
    [
        '{"run_id": "r", "out_of_balance": [{"item": "A", "runs": 1}',  # cut short
        '{"run_id": "r"} trailing',
        '{"run_id": "r", "out_of_balance": [1, 2]}',  # entries that are no streaks
        '{"out_of_balance": [{"item": "A", "runs": "many"}]}',
        '{"run_id" "r"}',
        "",
    ],
)
def test_a_summary_that_is_not_one_is_refused_as_json_would(text: str) -> None:
    with pytest.raises(ValueError):
        parse_summary(text)


def _streaks(n: int, rng: random.Random) -> list[dict]:
    keys = sorted({(f"I{rng.randrange(n * 3):06d}", str(rng.randrange(4))) for _ in range(n)})
    return [{"item": i, "warehouse": w, "runs": rng.randrange(1, 9)} for i, w in keys]


def _as_text(entries: list[dict]) -> OutOfBalanceEntries:
    """As a summary read for history holds them."""
    return parse_summary(json.dumps({"out_of_balance": entries}))["out_of_balance"]


def test_streaks_read_from_text_answer_as_the_entries_say_and_ids_never_run_together() -> None:
    entries = [*_streaks(2_000, random.Random(7)), {"item": "ab", "warehouse": "c", "runs": 4}]
    entries.append({"item": "a", "warehouse": "bc", "runs": 5})  # joined naively, the same key as ab + c
    expected = {(e["item"], e["warehouse"]): e["runs"] for e in entries}
    for held in (_as_text(entries), entries):
        before = streaks_by_scope([{"run_id": "a", "status": "ok", "out_of_balance": held}], "b")
        assert before == expected
        assert [before.get(k, 0) for k in expected] == list(expected.values())
        assert before.get(("abc", ""), 0) == 0 and before.get(("I", "0"), 0) == 0


def test_a_run_scoped_to_some_warehouses_decides_only_their_streaks() -> None:
    entries = _streaks(500, random.Random(3))
    newest = {"run_id": "b", "status": "ok", "by_warehouse": {"1": {}, "2": {}}, "out_of_balance": _as_text(entries)}
    older = {"run_id": "a", "status": "ok", "out_of_balance": [{"item": "Z", "warehouse": "3", "runs": 6}, *entries]}
    before = streaks_by_scope([older, newest], "c")
    from_newest = {(e["item"], e["warehouse"]): e["runs"] for e in entries if e["warehouse"] in {"1", "2"}}
    from_older = {
        (e["item"], e["warehouse"]): e["runs"] for e in older["out_of_balance"] if e["warehouse"] not in {"1", "2"}
    }
    assert before == from_newest | from_older


def test_a_bad_days_summary_read_as_history_holds_its_text_not_an_object_per_key() -> None:
    """300,000 streaks parsed whole were ~100 MB of dicts at the next run's start, and their keys
    another ~60 MB as tuples: at 1M + 1M rows the second bad day in a row peaked at 444 MB."""
    entries = _streaks(60_000, random.Random(1))
    text = json.dumps(_summary(entries), ensure_ascii=False, separators=(",", ":"))
    keys = [(e["item"], e["warehouse"]) for e in entries]

    def peak_of(read) -> int:
        tracemalloc.start()
        try:
            before = read()
            assert sum(before.get(k, 0) for k in keys) == sum(e["runs"] for e in entries)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def as_before() -> dict:  # what history reading did: the whole summary, then a dict of tuples
        doc = json.loads(text)
        return {(str(e["item"]), str(e.get("warehouse", ""))): int(e.get("runs", 1)) for e in doc["out_of_balance"]}

    now = peak_of(lambda: streaks_by_scope([parse_summary(text)], "next"))
    then = peak_of(as_before)
    assert now < then / 2, f"{now} bytes now against {then} the way it was read before"


def _scoped_history(rng: random.Random, runs: int) -> list[dict]:
    """Runs oldest first, each covering all warehouses or some, ok or not, with its own streaks."""
    history = []
    for n in range(runs):
        entries = _streaks(200, rng)
        summary: dict = {"run_id": f"r{n}", "status": rng.choice(["ok", "ok", "ok", "error"])}
        if rng.random() < 0.7:  # scoped to some warehouses; else an older summary without coverage
            summary["by_warehouse"] = {w: {} for w in rng.sample([str(w) for w in range(6)], rng.randint(1, 6))}
        summary["out_of_balance"] = _as_text(entries)
        history.append(summary)
    return history


@pytest.mark.parametrize("seed", range(40))
def test_dropping_unread_streak_lists_changes_no_streak(seed: int) -> None:
    """Twelve bad days of history held twelve 15 MB streak lists while the run streamed (510 MB at
    1M + 1M rows): only the newest run covering each warehouse is read, so the others are dropped."""
    rng = random.Random(seed)
    history = _scoped_history(rng, rng.randint(1, 12))
    current = rng.choice(["r0", "r5", "new"])
    pruned = without_unused_streaks(history, current)
    assert streaks_by_scope(pruned, current) == streaks_by_scope(history, current)
    assert [s["run_id"] for s in pruned] == [s["run_id"] for s in history]


@pytest.mark.parametrize("seed", range(40))
def test_read_from_briefs_history_loads_only_the_lists_that_count_and_gives_the_same_streaks(seed: int) -> None:
    """Runs are read for history from their brief (no streak list, ``out_of_balance_count``); the lists of
    the runs whose streaks count are loaded afterwards, and no other."""
    from shared.services.reconcile import brief_of

    rng = random.Random(seed)
    history = _scoped_history(rng, rng.randint(1, 12))
    current = rng.choice(["r0", "r5", "new"])
    by_run = {s["run_id"]: s for s in history}
    loaded: list[str] = []

    def load(brief):
        loaded.append(brief["run_id"])
        return by_run[brief["run_id"]]["out_of_balance"]

    briefs = [brief_of(s) for s in history]
    assert all("out_of_balance" not in b for b in briefs)
    assert [b["out_of_balance_count"] for b in briefs] == [len(s["out_of_balance"]) for s in history]
    filled = without_unused_streaks(briefs, current, load)
    assert streaks_by_scope(filled, current) == streaks_by_scope(history, current)
    kept = [s["run_id"] for s in without_unused_streaks(history, current) if len(s["out_of_balance"])]
    assert sorted(loaded) == sorted(kept) and len(set(loaded)) == len(loaded), "the lists the walk reads, once"


def test_a_run_whose_streak_list_cannot_be_loaded_is_left_out_and_the_next_older_one_decides() -> None:
    """As a run whose summary cannot be read always was: not part of the history at all."""
    everything = {str(w): {} for w in range(6)}
    older = {"run_id": "d0", "status": "ok", "by_warehouse": everything, "out_of_balance_count": 50}
    newer = {"run_id": "d1", "status": "ok", "by_warehouse": everything, "out_of_balance_count": 50}
    lists = {"d0": _as_text(_streaks(50, random.Random(0)))}
    asked: list[str] = []

    def load(brief):
        asked.append(brief["run_id"])
        return lists.get(brief["run_id"])  # d1's summary is unreadable

    filled = without_unused_streaks([older, newer], "d2", load)
    assert asked == ["d1", "d0"] and [s["run_id"] for s in filled] == ["d0"]
    assert streaks_by_scope(filled, "d2") == streaks_by_scope([{**older, "out_of_balance": lists["d0"]}], "d2")
    assert len(streaks_by_scope(without_unused_streaks([newer], "d2", lambda _: None), "d2")) == 0


def test_after_a_run_that_covered_every_warehouse_older_streak_lists_are_dropped() -> None:
    lists = [_as_text(_streaks(50, random.Random(n))) for n in range(4)]
    everything = {str(w): {} for w in range(6)}
    history = [
        {"run_id": f"d{n}", "status": "ok", "by_warehouse": everything, "out_of_balance": lists[n]} for n in range(4)
    ]
    pruned = without_unused_streaks(history, "d9")
    assert [len(s["out_of_balance"]) for s in pruned] == [0, 0, 0, 50]
    assert pruned[3]["out_of_balance"] is lists[3]  # the newest is kept as it was, not copied


@pytest.mark.parametrize("seed", range(20))
def test_the_written_streak_list_is_measured_the_same_as_entry_by_entry(seed: int) -> None:
    """Our own compact lists are matched in one regex pass (twelve bad days of history each cost ~1 s
    decoded entry by entry); the result must be the walk's, for any ids a snapshot may carry."""
    from shared.domain.reconciliation import summary_text

    rng = random.Random(seed)
    alphabet = ['"', "\\", "{", "}", "[", "]", ",", ":", "Ä", "\u2028", "\t", "a", "0", '{"item":']
    entries = [
        {
            "item": "".join(rng.choices(alphabet, k=rng.randint(0, 6))),
            "warehouse": rng.choice(["", "1", '"x"']),
            "runs": n,
        }
        for n in range(rng.randint(0, 30))
    ]
    text = json.dumps({"out_of_balance": entries}, ensure_ascii=rng.random() < 0.5, separators=(",", ":"))
    start = text.index("[")
    assert summary_text._WRITTEN_LIST.match(text, start) is not None  # the fast path is the one taken
    expected = (len(text) - 1, len(entries))
    assert summary_text._list_end(text, start) == summary_text._walked_list_end(text, start) == expected


@pytest.mark.parametrize(
    "bad",
    [
        '{"out_of_balance":[{"item":"a\\x","warehouse":"1","runs":2}]}',
        '{"out_of_balance":[{"item":"a","warehouse":"1","runs":02}]}',
        '{"out_of_balance":[{"item":"a","warehouse":"1","runs":"2"}]}',
        '{"out_of_balance":[{"item":"a","warehouse":"1","runs":2},]}',
    ],
)
def test_a_streak_list_not_as_written_is_still_refused_when_it_is_not_valid(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_summary(bad)
