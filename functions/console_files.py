"""Which files the web console may serve, and as what: an allow-list built from `webconsole/`, never a path join.

A requested path is looked up as a dictionary key in the allow-list, so `..`, encoded slashes, absolute
paths, backslashes or a symlink planted later can never reach a file outside it. The list is built per
request (a few dozen files, so an edited console shows on reload without a restart) from the files shipped
in `webconsole/` with a known extension, plus the sample bodies the console offers to post (`samples/*.json`,
served under `samples/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_DIR = ROOT / "webconsole"
SAMPLES_DIR = ROOT / "samples"
SAMPLE_FILES = ("adjustments.json", "onhand_events.json", "erp_transactions.json", "configuration.json")
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class ConsoleFile:
    path: Path
    content_type: str


def _shipped(folder: Path, prefix: str = "") -> dict[str, ConsoleFile]:
    found: dict[str, ConsoleFile] = {}
    for path in sorted(folder.rglob("*")):
        suffix = path.suffix.lower()
        if path.is_file() and not path.is_symlink() and suffix in CONTENT_TYPES:
            found[prefix + path.relative_to(folder).as_posix()] = ConsoleFile(path, CONTENT_TYPES[suffix])
    return found


def allowed_files() -> dict[str, ConsoleFile]:
    """URL path under `console/` → file, for every servable file shipped in `webconsole/` and the samples."""
    files = _shipped(CONSOLE_DIR)
    for name in SAMPLE_FILES:
        sample = SAMPLES_DIR / name
        if sample.is_file():
            files[f"samples/{name}"] = ConsoleFile(sample, CONTENT_TYPES[".json"])
    return files


def find_console_file(requested: str) -> ConsoleFile | None:
    """The file for `requested` (the part of the URL after `console/`; empty means the start page), or None."""
    if len(requested) > 200:
        return None
    return allowed_files().get(requested or INDEX)
