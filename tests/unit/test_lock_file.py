"""`make install` installs from requirements-dev.lock; the ranges live in requirements*.txt.

A range changed without `make lock` would install a stale version silently; these checks catch it
without network.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-dev.lock"


def requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file, following `-r other.txt`."""
    out: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            out += requirements(path.parent / line[2:].strip())
        else:
            out.append(Requirement(line))
    return out


def locked() -> dict[str, tuple[str, int]]:
    """Pinned name -> (version, number of hashes) from the lock."""
    pins: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in LOCK.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", line)
        if pin:
            current = canonicalize_name(pin.group(1).split("[")[0])
            pins[current] = (pin.group(2), 0)
        elif current and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def test_every_requirement_is_pinned_in_the_lock_within_its_range() -> None:
    pins = locked()
    problems = []
    for req in requirements(ROOT / "requirements-dev.txt"):
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req.name}=={pins[name][0]} is outside {req.specifier}")
    assert problems == [], "run `make lock`: " + "; ".join(problems)


def test_every_pin_carries_hashes() -> None:
    unhashed = sorted(name for name, (_, hashes) in locked().items() if hashes == 0)
    assert unhashed == []


def test_the_makefile_installs_from_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK := requirements-dev.lock" in makefile
    assert "--require-hashes -r $(LOCK)" in makefile
