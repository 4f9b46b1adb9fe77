"""Spreadsheet safety for every CSV omnisync writes (reports, journal files).

A text cell such as `=HYPERLINK(...)` or `-2+3` would run as a formula when a person opens the
file in Excel or LibreOffice. Text cells get a leading apostrophe; numbers we format ourselves stay
numbers.
"""

from __future__ import annotations

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Prefix an apostrophe when a spreadsheet would treat the cell as a formula."""
    return "'" + text if text.startswith(DANGEROUS_PREFIXES) else text
