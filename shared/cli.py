"""Console entry point ``omnisync``: the reconciliation without Azure.

Same code path as the blob trigger (``run_reconciliation``); only the sink
differs (a local directory instead of the ``reports`` container).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def _default_run_id(erp: Path, wms: Path) -> str:
    """Content hash of both files: the same snapshots give the same run id and line ids."""
    h = hashlib.sha256()
    for p in (erp, wms):
        with open(p, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                h.update(chunk)
        h.update(b"\x00")
    return "run-" + h.hexdigest()[:12]


def _reconcile(args: argparse.Namespace) -> int:
    from shared.adapters.local_reports import LocalDirSink
    from shared.adapters.snapshot_engine import EngineSettings
    from shared.domain.reconciliation.config import ReconcileConfig, parse_config
    from shared.domain.reconciliation.history import without_unused_streaks
    from shared.domain.reconciliation.summary_text import parse_summary
    from shared.services.reconcile import SnapshotSource, StreamWay, run_reconciliation

    try:
        config = parse_config(Path(args.config).read_bytes(), args.config) if args.config else ReconcileConfig()
    except (OSError, ValueError, ValidationError) as exc:
        print(f"omnisync: invalid config {args.config}: {exc}", file=sys.stderr)
        return 2
    history: list[dict[str, Any]] = []
    files: dict[int, Path] = {}
    for h in args.history or []:
        try:
            history.append(parse_summary(Path(h).read_text(encoding="utf-8"), for_history=True))
            files[id(history[-1])] = Path(h)
        except (OSError, ValueError) as exc:
            print(f"omnisync: ignoring unreadable history file {h}: {exc}", file=sys.stderr)

    def streaks_of(brief: Mapping[str, Any]) -> Any:
        """A history.json brief names no streaks: they are in the summary.json beside it."""
        beside = files[id(brief)].with_name("summary.json")
        try:
            return parse_summary(beside.read_text(encoding="utf-8"), for_history=True).get("out_of_balance")
        except (OSError, ValueError, AttributeError) as exc:
            print(f"omnisync: {files[id(brief)]} is a brief; no streaks from {beside}: {exc}", file=sys.stderr)
            return None

    erp, wms = Path(args.erp_file), Path(args.wms_file)
    run_id = args.run_id
    if not run_id:
        try:
            run_id = _default_run_id(erp, wms)
        except OSError as exc:
            run_id = "run-unreadable"
            print(f"omnisync: {exc}", file=sys.stderr)
    history = without_unused_streaks(history, run_id, streaks_of)
    result = run_reconciliation(
        SnapshotSource(erp, name=erp.name),
        SnapshotSource(wms, name=wms.name),
        config,
        history,
        LocalDirSink(Path(args.out)),
        run_id=run_id,
        engine=EngineSettings(threads=args.threads, memory_limit=args.memory_limit),
        stream=StreamWay(args.stream),
    )
    if not result.ok:
        for e in result.errors:
            print(f"omnisync: {e}", file=sys.stderr)
        return 1
    c = result.summary["counts"]
    print(
        f"run {run_id}: {c['keys']} keys, {c['match']} match, {c['quantity_differs']} differ, "
        f"{c['only_in_erp']} only in ERP, {c['only_in_wms']} only in WMS, {c['material']} material; "
        f"reports in {args.out}"
    )
    return 0


def _poison(args: argparse.Namespace) -> int:
    """List or replay the messages the host moved to a work queue's `-poison` queue."""
    from shared.adapters.work_queues import WorkQueues

    queues = WorkQueues()
    if args.action == "replay":
        moved = queues.replay_poison(args.queue, limit=args.limit)
        print(f"{moved} message(s) moved back to {args.queue}")
        return 0
    for message in queues.poison(args.queue, limit=args.limit):
        print(
            json.dumps(
                {
                    "queue": message.queue,
                    "id": message.message_id,
                    "insertedOn": message.inserted_on,
                    "body": message.body,
                },
                sort_keys=True,
            )
        )
    return 0


def _ledger_reshard(args: argparse.Namespace) -> int:
    """Move a ledger written before the shards into them (run with the app stopped)."""
    from shared.adapters.ledger_reshard import reshard_ledger

    result = reshard_ledger()
    print(f"{result.partitions_moved} partition(s), {result.entities_moved} entities moved into the ledger's shards")
    for partition in result.refused:
        print(f"omnisync: left in the old table, its shard already holds other entities: {partition}", file=sys.stderr)
    return 1 if result.refused else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnisync")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconcile", help="compare an ERP and a WMS on-hand snapshot")
    rec.add_argument("erp_file")
    rec.add_argument("wms_file")
    rec.add_argument("--out", required=True, help="directory for the report set")
    rec.add_argument("--config", help="JSON or TOML reconciliation config")
    rec.add_argument("--run-id", help="run id (default: hash of both files)")
    rec.add_argument(
        "--history", action="append", help="earlier summary.json (repeat, oldest first) for streaks and trend"
    )
    rec.add_argument(
        "--memory-limit",
        default="256MB",
        help="DuckDB memory limit; beyond it DuckDB spills to disk (default 256MB)",
    )
    rec.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    rec.add_argument(
        "--stream",
        choices=["engine", "python", "reference"],
        default="engine",
        help="how differing keys become report texts; every way writes the same bytes (default engine)",
    )
    rec.set_defaults(func=_reconcile)
    from shared.adapters.storage_names import QUEUES

    poison = sub.add_parser(
        "poison",
        help="list or replay work messages that failed maxDequeueCount times "
        "(storage from OMNISYNC_STORAGE, as the app)",
    )
    poison.add_argument("action", choices=["list", "replay"])
    poison.add_argument("queue", choices=QUEUES, help="work queue (without prefix)")
    poison.add_argument("--limit", type=int, default=32, help="at most this many messages (list: up to 32)")
    poison.set_defaults(func=_poison)
    reshard = sub.add_parser(
        "ledger-reshard",
        help="move a ledger written before the shards (table `ledger`) into ledger00..07; stop the app first "
        "(storage from OMNISYNC_STORAGE)",
    )
    reshard.set_defaults(func=_ledger_reshard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 ok, 1 reports written but the run is an error run, 2 usage/config error."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
