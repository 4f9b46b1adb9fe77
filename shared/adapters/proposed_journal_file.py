"""A run's ``proposed_journal.json`` read as a stream, one journal (≤ 1,000 lines) at a time.

Why: a bad day proposes hundreds of thousands of lines, ~130 MB of JSON; ``json.loads`` turns that
into ~700 MB of dicts, inside an HTTP call that approves one journal of it. ijson's C parser walks
the file and builds only one journal's lines at a time (~20 MB peak at 300,000 lines).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

import ijson

HEADER_FIELDS = ("run_id", "target", "mode", "master", "line_count")
_SCALARS = frozenset({"string", "number", "boolean", "null"})


class UnreadableJournal(ValueError):
    """The file is not a proposed journal (not JSON, or not an object with ``journals``)."""


class ProposedJournalFile:
    """The header fields and the journals of one proposed journal; ``file`` must be seekable."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    @classmethod
    def of_bytes(cls, data: bytes) -> ProposedJournalFile:
        return cls(io.BytesIO(data))

    def header(self) -> dict[str, Any]:
        """The top-level fields of ``HEADER_FIELDS`` that the file has.

        The writer puts them before ``journals``, so this reads only the file's first bytes; a
        document written otherwise (by hand, by an older tool) costs one more pass per missing field.
        """
        found: dict[str, Any] = {}
        try:
            self.file.seek(0)
            for prefix, event, value in ijson.parse(self.file, use_float=True):
                if prefix == "journals" and event == "start_array":
                    break
                if prefix in HEADER_FIELDS and event in _SCALARS:
                    found[prefix] = value
            for name in HEADER_FIELDS:
                if name not in found:
                    self.file.seek(0)
                    for value in ijson.items(self.file, name, use_float=True):
                        if value is None or isinstance(value, (str, int, float, bool)):
                            found[name] = value
                        break
        except ijson.JSONError as exc:
            raise UnreadableJournal(f"the proposed journal is not readable JSON: {exc}") from None
        return found

    def journals(self) -> Iterator[dict[str, Any]]:
        """Each journal object (``journal_id``, ``lines``), in file order, built one at a time."""
        self.file.seek(0)
        try:
            for journal in ijson.items(self.file, "journals.item", use_float=True):
                if isinstance(journal, dict):
                    yield journal
        except ijson.JSONError as exc:
            raise UnreadableJournal(f"the proposed journal is not readable JSON: {exc}") from None
