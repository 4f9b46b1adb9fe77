"""Report text written in batches to a spooled temp file: memory stays flat however large the report.

Why not ``io.TextIOWrapper`` over ``tempfile.SpooledTemporaryFile``: every write then runs the
spool's Python-level ``write`` (a rollover check) and the wrapper's encoder, and a bad day writes
three report lines for each of 300,000 keys. Why not ``io.StringIO`` either (as before): asking it
for its size turns its pieces into one 4-bytes-a-character buffer, and ``getvalue`` turns that back;
for a bad day's 130 MB journal that cost ~0.9 s against ~0.07 s for this. Text goes into a list (a C
call per write) and moves to the file, joined and encoded, a few hundred kilobytes at a time.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO

SPOOL_BYTES = 1024 * 1024
"""A spool moves to disk beyond this: on a bad day the journal alone is 100s of MB."""
_BATCH_CHARS = 256 * 1024


class TextSpool:
    """``write`` text, ``spill`` now and then (cheap when there is little), ``finish`` to read it back."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - caller closes
        self._parts: list[str] = []
        self.write = self._parts.append

    def spill(self) -> None:
        """Move the buffered text to the file once it is large enough to be worth a write."""
        if sum(map(len, self._parts)) >= _BATCH_CHARS:
            self._move()

    def _move(self) -> None:
        self.file.write("".join(self._parts).encode("utf-8"))
        self._parts.clear()

    def finish(self) -> IO[bytes]:
        """The whole text as a file, rewound (owned by the caller)."""
        self._move()
        self.file.seek(0)
        return self.file

    def wrap(self, before: str, after: str) -> IO[bytes]:
        """``before`` + the text + ``after`` as a new spooled file; this spool's file is closed."""
        body = self.finish()
        out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - owned by the caller
        out.write(before.encode("utf-8"))
        shutil.copyfileobj(body, out, 1024 * 1024)
        body.close()
        out.write(after.encode("utf-8"))
        out.seek(0)
        return out
