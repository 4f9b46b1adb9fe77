"""The browser check must fail, not skip, when Chromium is missing (tests/browser/test_report_chromium.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_missing_chromium_fails_with_the_fix_in_the_message(tmp_path: Path) -> None:
    env = {**os.environ, "OMNISYNC_CHROMIUM": str(tmp_path / "no-chromium-here")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/browser/test_report_chromium.py",
            "-k",
            "installed",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed" in out and "skipped" not in out
    assert "Chromium not found at" in out and "make install" in out
