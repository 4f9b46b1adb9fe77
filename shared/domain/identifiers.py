"""Rules for ids that become Table Storage keys.

Keys may not contain `/ \\ # ?` or control characters, and omnisync joins key parts with `|`, so
every id that reaches a key is checked here, at the edge, against one allow-list (KEY_TEXT), and every
free value that can reach a journal file against a stricter one (VALUE_TEXT).
"""

from __future__ import annotations

import re

ENVIRONMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
KEY_TEXT = re.compile(r"^[A-Za-z0-9_@.:+\-](?:[A-Za-z0-9_@.:+\- ]{0,98}[A-Za-z0-9_@.:+\-])?$")
DIMENSION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
KEY_TEXT_RULE = "1-100 characters: letters, digits, space (not first or last) and _ @ . : + -"
VALUE_TEXT = re.compile(r"^[A-Za-z0-9_.:](?:[A-Za-z0-9_@.:+\- ]{0,98}[A-Za-z0-9_@.:+\-])?$")
"""Free values (ids, organization, product, dimension values, references): as KEY_TEXT, but never starting
with a character a spreadsheet reads as a formula (`= + - @`, tab, CR). Such a value would have to be
changed in the outbox CSV (neutralised with a leading apostrophe) and the CSV and JSON of one journal would
then differ; refusing it at the edge keeps both files carrying exactly the same values. Configuration names
(data sources such as `@iv`, measures) are not free values: they never reach a journal file, keep KEY_TEXT."""
VALUE_TEXT_RULE = KEY_TEXT_RULE + ", not starting with + - or @ (a spreadsheet would read it as a formula)"


class InvalidIdentifier(ValueError):
    pass


def check_environment_id(value: str) -> str:
    if not isinstance(value, str) or not ENVIRONMENT_ID.fullmatch(value):
        raise InvalidIdentifier("environmentId must be 1-64 letters, digits or '-', starting with a letter or digit")
    return value


def check_key_text(value: str, field: str = "value") -> str:
    if not KEY_TEXT.fullmatch(value):
        raise InvalidIdentifier(f"{field} must be {KEY_TEXT_RULE}")
    return value


def environment_range(environment_id: str) -> tuple[str, str]:
    """Bounds of every partition key of one environment: `env|...` sorts between these two."""
    return f"{environment_id}|", f"{environment_id}}}"
