"""An earlier summary read for history keeps its streaks as text, and they are looked up in order."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from shared.domain.reconciliation.history import OutOfBalanceEntries, SortedStreaks, streaks_by_scope
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
    """As a summary read for history holds them (the reader checks their order)."""
    return parse_summary(json.dumps({"out_of_balance": entries}))["out_of_balance"]


def test_streaks_looked_up_in_order_answer_as_the_dict_in_any_order_of_keys_or_entries() -> None:
    rng = random.Random(7)
    entries = _streaks(2_000, rng)
    expected = {(e["item"], e["warehouse"]): e["runs"] for e in entries}
    asked = sorted({*expected, *((f"I{rng.randrange(6_000):06d}", str(rng.randrange(5))) for _ in range(3_000))})

    in_order = SortedStreaks(_as_text(entries), None)
    assert [in_order.get(k, 0) for k in asked] == [expected.get(k, 0) for k in asked]
    assert in_order._map is None, "keys in order: no dict was built"

    shuffled_keys = asked[:]
    rng.shuffle(shuffled_keys)
    any_order = SortedStreaks(_as_text(entries), None)
    assert [any_order.get(k, 0) for k in shuffled_keys] == [expected.get(k, 0) for k in shuffled_keys]

    unsorted_entries = entries[:]
    rng.shuffle(unsorted_entries)
    assert not _as_text(unsorted_entries).in_order and _as_text(entries).in_order
    from_unsorted = streaks_by_scope(
        [{"run_id": "a", "status": "ok", "out_of_balance": _as_text(unsorted_entries)}], "b"
    )
    assert isinstance(from_unsorted, dict), "entries out of order are looked up as a dict"
    assert [from_unsorted.get(k, 0) for k in asked] == [expected.get(k, 0) for k in asked]


def test_a_run_scoped_to_some_warehouses_decides_only_their_streaks() -> None:
    entries = _streaks(500, random.Random(3))
    newest = {"run_id": "b", "status": "ok", "by_warehouse": {"1": {}, "2": {}}, "out_of_balance": _as_text(entries)}
    older = {"run_id": "a", "status": "ok", "out_of_balance": entries}  # covers everything
    as_lists = [{**older}, {**newest, "out_of_balance": entries}]
    lookup = streaks_by_scope([older, newest], "c")
    reference = streaks_by_scope(as_lists, "c")
    assert isinstance(reference, dict)
    keys = sorted({(e["item"], e["warehouse"]) for e in entries} | {("I999999", "3")})
    assert [lookup.get(k, 0) for k in keys] == [reference.get(k, 0) for k in keys]
    only = streaks_by_scope([newest], "c")
    assert isinstance(only, SortedStreaks)
    in_scope = {(e["item"], e["warehouse"]): e["runs"] for e in entries if e["warehouse"] in {"1", "2"}}
    assert [only.get(k, 0) for k in keys] == [in_scope.get(k, 0) for k in keys]


def test_a_bad_days_summary_read_as_history_holds_its_text_not_an_object_per_key() -> None:
    """300,000 streaks parsed whole were ~100 MB of dicts at the next run's start (444 MB peak at
    1M + 1M rows on the second bad day in a row, against 349 MB on the first)."""
    entries = _streaks(60_000, random.Random(1))
    text = json.dumps(_summary(entries), ensure_ascii=False, separators=(",", ":"))
    keys = [(e["item"], e["warehouse"]) for e in entries]
    tracemalloc.start()
    try:
        before = streaks_by_scope([parse_summary(text)], "next")
        assert sum(before.get(k, 0) for k in keys) == sum(e["runs"] for e in entries)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(text), f"peak {peak} bytes for a {len(text)}-byte summary"
