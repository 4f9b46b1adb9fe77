"""Benchmark: what approving one journal of a bad day's proposal costs, against reading the file whole.

A bad day (1M + 1M rows, 30 % of keys differing) proposes ~300,000 lines in journals of 1,000: a
~130 MB ``proposed_journal.json``. Each method runs in its own interpreter on the same file and
prints wall time, CPU time and that process's peak RSS (``os.wait4``):

* ``json_loads`` (the baseline; what approval did before): the whole file parsed, then one journal's
  lines selected;
* ``stream_journal``: ``ProposedJournalFile`` + ``select_proposed(journal_ids=[the middle journal])``,
  what ``POST …/approve`` with ``journalIds`` does after the download;
* ``stream_all_refused``: the same for "approve all", refused with ``TooManyToApprove`` after one walk;
* ``page_first`` / ``page_last``: the lines a console page shows, from the start and from the end.

    python bench/approval.py [--lines 303000] [--keep FILE]

The last printed line is one JSON object with every figure and the ratios against ``json_loads``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PER_JOURNAL = 1000
METHODS = ["json_loads", "stream_journal", "stream_all_refused", "page_first", "page_last"]


def generate(path: Path, lines: int) -> None:
    """A proposal in the writer's layout (header first, one object per line, the fields a run writes)."""
    journals = (lines + PER_JOURNAL - 1) // PER_JOURNAL
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '{"schema":"omnisync.reconciliation.proposed_journal/1","run_id":"bench","status":"proposed",'
            f'"master":"wms","target":"erp","mode":"movement","max_lines_per_journal":{PER_JOURNAL},'
            f'"line_count":{lines},"journals":['
        )
        n = 0
        for j in range(1, journals + 1):
            out.write(("," if j > 1 else "") + f'{{"journal_id":"bench-{j:03d}","lines":[')
            texts = []
            for k in range(1, min(PER_JOURNAL, lines - n) + 1):
                n += 1
                line_id = hashlib.sha256(str(n).encode()).hexdigest()[:24]  # as uniform as a run's ids
                texts.append(
                    f'{{"line_id":"{line_id}","run_id":"bench","journal_id":"bench-{j:03d}","line_number":{k},'
                    f'"target":"erp","mode":"movement","item":"{n // 4:08d}","site":"1","warehouse":"{10 + n % 4}",'
                    f'"batch":"B-{n % 97}","status":null,"location":null,"quantity_delta":"{1 + n % 5}",'
                    f'"counted_quantity":null,"book_quantity":"{n % 1000}","unit_cost":"47.29",'
                    f'"value":"{(1 + n % 5) * 47.29:.2f}","category":"quantity_differs",'
                    f'"reasons":["value {(1 + n % 5) * 47.29:.2f} > 50"],"movement":"receipt","review":true,'
                    f'"serial":null}}'
                )
            out.write(",".join(texts) + "]}")
        out.write("]}")


def task(method: str, path: Path, lines: int) -> None:
    from shared.adapters.proposed_journal_file import ProposedJournalFile
    from shared.domain.reconciliation.journal import TooManyToApprove, select_proposed

    middle = f"bench-{(lines // PER_JOURNAL) // 2 + 1:03d}"
    if method == "json_loads":
        document = json.loads(path.read_bytes())
        got = [ln for j in document["journals"] if j["journal_id"] == middle for ln in j["lines"]]
        assert len(got) == PER_JOURNAL
        return
    with path.open("rb") as file:
        reader = ProposedJournalFile(file)
        header = reader.header()
        assert header["line_count"] == lines
        if method == "stream_journal":
            got = select_proposed(reader.journals(), journal_ids=[middle], max_lines=10_000)
            assert len(got) == PER_JOURNAL
        elif method == "stream_all_refused":
            try:
                select_proposed(reader.journals(), max_lines=10_000)
            except TooManyToApprove as refused:
                assert refused.selected == lines
            else:
                raise AssertionError("approve all was not refused")
        else:
            from shared.services.reconcile_reports import lines_at  # the route's own walk

            offset = 0 if method == "page_first" else lines - 100
            items, _ = lines_at(reader, offset, 100)
            assert len(items) == 100


def measure(method: str, path: Path, lines: int) -> dict[str, Any]:
    from bench.child_process import measured

    return measured([sys.executable, __file__, "--task", method, "--file", str(path), "--lines", str(lines)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=303_000)
    ap.add_argument("--keep", help="write the generated proposal here and keep it")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        task(args.task, Path(args.file), args.lines)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "proposed_journal.json"
        generate(path, args.lines)
        size_mb = round(path.stat().st_size / 1e6, 1)
        print(f"proposal: {args.lines:,} lines, {size_mb} MB")
        figures = {"lines": args.lines, "file_mb": size_mb}
        for method in METHODS:
            figures[method] = measure(method, path, args.lines)
            print(f"{method:20s} {figures[method]}")
        base = figures["json_loads"]
        for method in METHODS[1:]:
            got = figures[method]
            if "peak_rss_mb" in got and "peak_rss_mb" in base:
                figures[f"{method}_rss_ratio"] = round(got["peak_rss_mb"] / base["peak_rss_mb"], 3)
                figures[f"{method}_wall_ratio"] = round(got["wall_s"] / base["wall_s"], 3)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
