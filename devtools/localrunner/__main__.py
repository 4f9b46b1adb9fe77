"""`python -m devtools.localrunner` — run the function app without Azure Functions Core Tools."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devtools.localrunner.http_host import port_problem
from devtools.localrunner.runner import KEY_SETTING, LocalRunner, function_key, load_app
from devtools.localrunner.settings import load_local_settings
from devtools.localrunner.triggers import UnknownFunction, find_timer, run_timer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localrunner", description=__doc__)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--settings", default="local.settings.json", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=7071, type=int)
    parser.add_argument("--no-timers", action="store_true", help="do not fire timers on their schedules")
    parser.add_argument("--blob-poll-seconds", default=2.0, type=float, help="0 disables blob events")
    parser.add_argument(
        "--queue-workers",
        default=None,
        type=int,
        help="concurrent messages per queue function (default: host.json batchSize)",
    )
    parser.add_argument("--no-queues", action="store_true", help="do not deliver queue messages")
    parser.add_argument("--run-timer", metavar="NAME", help="run one timer function once and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # As host.json does for Azure.Core: the SDK's per-request logging drowns the app's own lines.
    logging.getLogger("azure").setLevel(logging.WARNING)
    load_local_settings(args.settings)
    sys.path.insert(0, str(Path.cwd()))
    app = load_app(args.app)
    if args.run_timer:
        runner = LocalRunner(app, timers=False)
        try:
            run_timer(find_timer(runner.catalog, args.run_timer))
        except UnknownFunction as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    if not function_key():
        print(
            f"{KEY_SETTING} is not set (local.settings.json Values); keyed routes would reject every call",
            file=sys.stderr,
        )
        return 2
    busy = port_problem(args.host, args.port)
    if busy:
        print(f"localrunner: {busy}", file=sys.stderr)
        return 1
    runner = LocalRunner(
        app,
        host=args.host,
        port=args.port,
        timers=not args.no_timers,
        blob_poll_s=args.blob_poll_seconds,
        queues=not args.no_queues,
        queue_workers=args.queue_workers,
    )
    try:
        runner.start()
    except RuntimeError as exc:  # e.g. the port was taken between the check and the bind
        print(f"localrunner: {exc}", file=sys.stderr)
        runner.stop()
        return 1
    print(f"Functions:\n{runner.summary()}\n\nAPI base URL: {runner.base_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    runner.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C while still starting: stop quietly, no traceback
        sys.exit(128 + signal.SIGINT)
