"""ReportSink for a local directory: stage in a hidden temp dir, then rename into place.

Each file lands by ``os.replace`` (atomic on one filesystem) and
``manifest.json`` lands last, so a reader that trusts only sets listed in the
manifest never sees a half-written report. Files of an earlier set for the same
directory that the new set does not contain are removed (an error report
replaces a successful one entirely, and vice versa).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from shared.adapters.hashing import copy_hashing

MANIFEST = "manifest.json"


class LocalDirSink:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.directory))
        self._files: dict[str, dict[str, str | int]] = {}

    def write(self, name: str, data: bytes | IO[bytes], content_type: str) -> None:
        if not name or "/" in name or "\\" in name or name.startswith(".") or name == MANIFEST:
            raise ValueError(f"invalid report name {name!r}")
        digest = hashlib.sha256()
        size = 0
        with open(self._staging / name, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
                digest.update(data)
                size = len(data)
            else:
                size = copy_hashing(data, out, digest)
            out.flush()
            os.fsync(out.fileno())
        self._files[name] = {"content_type": content_type, "sha256": digest.hexdigest(), "bytes": size}

    def commit(self, listing: Mapping[str, str] | None = None) -> None:
        """``listing`` is for stores that list runs (blob metadata); a folder of files has no list to feed."""
        old = self._previous_names()
        manifest = self._staging / MANIFEST
        manifest.write_text(json.dumps({"files": self._files}, indent=2, sort_keys=True) + "\n")
        for name in self._files:
            os.replace(self._staging / name, self.directory / name)
        os.replace(manifest, self.directory / MANIFEST)
        for name in old - set(self._files):
            (self.directory / name).unlink(missing_ok=True)
        shutil.rmtree(self._staging, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)

    def _previous_names(self) -> set[str]:
        try:
            doc = json.loads((self.directory / MANIFEST).read_text())
        except (OSError, ValueError):
            return set()
        return {n for n in doc.get("files", {}) if "/" not in n and not n.startswith(".")}
