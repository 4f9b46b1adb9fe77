"""Walk JSON text a piece at a time with the json module's own scanner, never decoding a big list whole.

Summaries read as history hold 300,000 streak entries after a bad day; both reading a summary
(``summary_text``) and reading its streaks (``OutOfBalanceEntries.pairs``) go through a list one
entry at a time here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any

decode = json.JSONDecoder().raw_decode
"""(value, index after it) of the JSON value starting at an index (no whitespace before it)."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def skip_whitespace(text: str, at: int) -> int:
    """The index of the first character from `at` that is not JSON whitespace."""
    found = _WHITESPACE.match(text, at)
    return found.end() if found else at


def list_items(text: str, start: int) -> Generator[Any, None, int]:
    """Each item of the JSON list that starts at `start` (its `[`), decoded one at a time; the
    generator's return value is the index just past the list's `]`. Raises ``ValueError`` on
    anything that is not a list."""
    if text[start : start + 1] != "[":
        raise ValueError(f"a JSON list expected at {start}")
    i = skip_whitespace(text, start + 1)
    if text[i : i + 1] == "]":
        return i + 1
    while True:
        item, i = decode(text, i)
        yield item
        i = skip_whitespace(text, i)
        if text[i : i + 1] == ",":
            i = skip_whitespace(text, i + 1)
        elif text[i : i + 1] == "]":
            return i + 1
        else:
            raise ValueError(f"',' or ']' expected at {i}")
