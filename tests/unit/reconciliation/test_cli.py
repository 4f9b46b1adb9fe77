"""`omnisync reconcile` end to end, as a separate process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _omnisync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_full_report_set(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "reports"
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"journal_mode": "counting"}))
    p = _omnisync(
        "reconcile",
        str(sample_files[0]),
        str(sample_files[1]),
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--run-id",
        "cli-1",
    )
    assert p.returncode == 0, p.stderr
    assert "3 material" in p.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == "cli-1" and summary["journal_mode"] == "counting"
    rows = {r["item"]: r for r in csv.DictReader((out / "discrepancies.csv").open(encoding="utf-8"))}
    assert rows["A0003"]["material"] == "yes" and rows["A0002"]["material"] == "no"
    assert rows["X9999"]["category"] == "only_in_wms" and "00417" not in rows
    journal = json.loads((out / "proposed_journal.json").read_text())
    assert {ln["item"] for j in journal["journals"] for ln in j["lines"]} == {
        "A0001",
        "A0002",
        "A0003",
        "D0002",
        "M0030",
        "X9999",
    }
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_cli_default_run_id_is_content_based(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    ids = []
    for n in range(2):
        out = tmp_path / f"o{n}"
        assert _omnisync("reconcile", *map(str, sample_files), "--out", str(out)).returncode == 0
        ids.append(json.loads((out / "summary.json").read_text())["run_id"])
    assert ids[0] == ids[1] and ids[0].startswith("run-")


def test_cli_bad_file_exits_1_with_error_report(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    out = tmp_path / "o"
    p = _omnisync("reconcile", str(sample_files[0]), str(bad), "--out", str(out), "--run-id", "x")
    assert p.returncode == 1
    assert "empty" in p.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "error"


def test_cli_invalid_config_exits_2(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"master": "sap"}')
    p = _omnisync("reconcile", *map(str, sample_files), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2 and "invalid config" in p.stderr


def test_a_history_brief_reads_its_streaks_from_the_summary_beside_it(
    sample_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each run writes history.json (its summary without the streak list); given to --history, the streaks
    come from the summary.json in the same folder, as if the summary had been given."""
    day1 = tmp_path / "day1"
    assert _omnisync("reconcile", *map(str, sample_files), "--out", str(day1), "--run-id", "d1").returncode == 0
    streaks = {}
    for given in ("summary.json", "history.json"):
        out = tmp_path / f"day2-{given}"
        args = ("--out", str(out), "--run-id", "d2", "--history", str(day1 / given))
        p = _omnisync("reconcile", *map(str, sample_files), *args)
        assert p.returncode == 0 and "brief" not in p.stderr, p.stderr
        summary = json.loads((out / "summary.json").read_text())
        streaks[given] = {(e["item"], e["warehouse"]): e["runs"] for e in summary["out_of_balance"]}
    assert streaks["history.json"] == streaks["summary.json"] and set(streaks["summary.json"].values()) == {2}
    (day1 / "summary.json").unlink()
    lonely = _omnisync(
        "reconcile", *map(str, sample_files), "--out", str(tmp_path / "x"), "--history", str(day1 / "history.json")
    )
    assert lonely.returncode == 0 and "is a brief; no streaks from" in lonely.stderr
