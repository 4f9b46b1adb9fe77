"""Read an earlier run's summary.json for history without turning its streaks into objects.

A bad day's summary lists 300,000 out-of-balance keys (13 MB of text). Parsed whole, that is
300,000 dicts, ~100 MB of Python objects, at the start of the next run: the second bad day in a
row peaked at 444 MB at 1M + 1M rows against 349 MB for the first. Here the summary's members are
decoded one by one with JSON's own scanner, and the ``out_of_balance`` list is only walked (each
entry decoded, checked and dropped, to find where the list ends) and kept as its text, from which
``streaks_by_scope`` reads the entries one at a time.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.domain.reconciliation.history import OutOfBalanceEntries
from shared.domain.reconciliation.json_text import decode, list_items, skip_whitespace

STREAKS = "out_of_balance"


_AS_TEXT: dict[str, Any] = {STREAKS: True, "audit": {"flagged": True}}
"""The lists kept as text, by member path: the streaks, and the audit flags (from the third bad day in a
row, every differing key is flagged: 300,000 entries that, decoded, took the next run to 607 MB)."""
_FOR_HISTORY: dict[str, Any] = {STREAKS: True, "audit": {"flagged": False}}
"""History reads the streaks but never the audit flags: those are checked and dropped, not kept."""


def parse_summary(text: str, for_history: bool = False) -> Any:
    """The summary as ``json.loads`` would give it, but its streaks and audit flags as ``OutOfBalanceEntries``.

    ``for_history``: the audit flags come back empty (twelve summaries of history each held 13.6 MB of
    them: the run after twelve such days peaked at 413 MB). Anything that is not a JSON object is
    returned as decoded (the caller ignores it); invalid JSON raises ``ValueError`` as ``json.loads`` does."""
    i = skip_whitespace(text, 0)
    if text[i : i + 1] != "{":
        return json.loads(text)
    doc, i = _object(text, i, _FOR_HISTORY if for_history else _AS_TEXT)
    return _end(doc, text, i)


def _object(text: str, i: int, as_text: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The object at ``i`` (a '{'), members decoded one by one; ``as_text`` says which lists (True) stay
    text and which members are objects with such lists of their own (a nested mapping)."""
    doc: dict[str, Any] = {}
    i = skip_whitespace(text, i + 1)
    if text[i : i + 1] == "}":
        return doc, i + 1
    while True:
        key, i = decode(text, i)
        if not isinstance(key, str):
            raise ValueError(f"summary: a member name expected at {i}")
        i = skip_whitespace(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"summary: ':' expected at {i}")
        i = skip_whitespace(text, i + 1)
        spec = as_text.get(key)
        if spec is not None and not isinstance(spec, dict) and text[i : i + 1] == "[":
            end, count = _list_end(text, i)
            doc[key] = OutOfBalanceEntries(text[i:end], count) if spec else OutOfBalanceEntries("[]", 0)
            i = end
        elif isinstance(spec, dict) and text[i : i + 1] == "{":
            doc[key], i = _object(text, i, spec)
        else:
            doc[key], i = decode(text, i)
        i = skip_whitespace(text, i)
        if text[i : i + 1] == ",":
            i = skip_whitespace(text, i + 1)
        elif text[i : i + 1] == "}":
            return doc, i + 1
        else:
            raise ValueError(f"summary: ',' or '}}' expected at {i}")


_STRING = r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+"'
_ENTRY = r'\{"item":' + _STRING + r',"warehouse":' + _STRING + r',"runs":-?(?:0|[1-9][0-9]*)\}'
_WRITTEN_LIST = re.compile(r"\[(?:" + _ENTRY + r"(?:," + _ENTRY + r")*+)?+\]")  # possessive: no backtracking stack
"""The streak list exactly as our summaries write it (compact, item / warehouse / runs): matched in one
pass of the regex engine, ~0.19 s for 296,150 entries against ~1 s decoding entry by entry, which
counts when a run reads twelve bad days of history. Any other spelling takes the entry-by-entry walk."""


def _list_end(text: str, start: int) -> tuple[int, int]:
    """Where the streak list at `start` ends, and how many entries it holds (each checked)."""
    written = _WRITTEN_LIST.match(text, start)
    if written is not None:
        # '{"item":' cannot occur inside a JSON string of a matched list (a string's quotes are escaped)
        return written.end(), text.count('{"item":', start, written.end())
    return _walked_list_end(text, start)


def _walked_list_end(text: str, start: int) -> tuple[int, int]:
    """``_list_end`` for any spelling: each entry decoded, checked and dropped."""
    entries = list_items(text, start)
    count = 0
    while True:
        try:
            entry = next(entries)
        except StopIteration as done:
            return done.value, count
        if not isinstance(entry, dict) or "item" not in entry or not isinstance(entry.get("runs", 1), int):
            raise ValueError(f"summary: {STREAKS} entry {count} is not an item's streak")
        count += 1


def _end(doc: dict[str, Any], text: str, at: int) -> dict[str, Any]:
    if skip_whitespace(text, at) != len(text):
        raise ValueError(f"summary: extra data at {at}")
    return doc
