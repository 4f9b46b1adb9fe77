"""`make run`: Azurite on the default ports, the function app on 127.0.0.1:7071 (`PORT=...`), and where to look.

Ctrl+C ends it cleanly: the runner gets the terminal's foreground (its own process group), so the interrupt
reaches the runner alone, which stops and exits 0; make, never interrupted itself, then ends without an error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence

from devtools.azurite import DEFAULT_PORTS, ROOT, Azurite, port_open
from devtools.localrunner.http_host import port_problem

SETTINGS = ROOT / "local.settings.json"
SAMPLE = ROOT / "local.settings.sample.json"
HOST = "127.0.0.1"
DEFAULT_PORT = 7071


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_local", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port of the function app")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1-65535, not {args.port}")
    return args


def banner(port: int, key: str) -> str:
    base = f"http://{HOST}:{port}"
    return (
        "\nomnisync is starting:\n"
        f"  API base URL:     {base}/api\n"
        f"  health:           curl {base}/api/health\n"
        f"  function key:     {key}  (header x-functions-key, or ?code=)\n"
        f"  run a timer now:  curl -X POST -H 'x-functions-key: <key>' {base}/admin/functions/<timer name>\n"
        "  snapshots:        upload {runId}/erp.csv and {runId}/wms.csv to container 'snapshots'"
        " of Azurite (UseDevelopmentStorage=true), e.g. `make drop-samples`\n"
        "  stop:             Ctrl+C\n"
    )


def runner_command(port: int) -> list[str]:
    return [sys.executable, "-m", "devtools.localrunner", "--host", HOST, "--port", str(port)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    busy = port_problem(HOST, args.port)
    if busy:  # before Azurite and the banner: one line, no traceback
        print(f"make run: {busy}", file=sys.stderr)
        return 1
    if not SETTINGS.exists():
        shutil.copyfile(SAMPLE, SETTINGS)
        print(f"created {SETTINGS.name} from {SAMPLE.name}")
    azurite = None
    if all(port_open(p) for p in DEFAULT_PORTS):
        print("Azurite already listens on 10000-10002; using it")
    else:
        azurite = Azurite(ROOT / ".azurite", DEFAULT_PORTS).start()
        print(f"Azurite started (data in {azurite.location})")
    try:
        print(banner(args.port, _local_key()), flush=True)
        return run_foreground(runner_command(args.port), cwd=str(ROOT))
    finally:
        # Whatever ends this process (Ctrl+C, SIGTERM, the runner exiting), Azurite goes with it.
        if azurite:
            azurite.stop()


def run_foreground(command: list[str], cwd: str | None = None) -> int:
    """Run `command` as the terminal's foreground job and return its exit code (0 when Ctrl+C ended it).

    Without a terminal (CI, tests) the command simply shares our process group.
    """
    terminal = _terminal()
    child = subprocess.Popen(command, cwd=cwd, process_group=0 if terminal is not None else None)  # noqa: S603
    ours = os.getpgrp()
    if terminal is not None:
        _hand_terminal(terminal, child.pid)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # no terminal handover: the interrupt reached us as well
                child.send_signal(signal.SIGINT)
    finally:
        if terminal is not None:
            _hand_terminal(terminal, ours)
            os.close(terminal)
    return 0 if code in (-signal.SIGINT, 128 + signal.SIGINT) else code


def _terminal() -> int | None:
    """Our controlling terminal, when we are its foreground job (so we may hand it on); else None."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _hand_terminal(fd: int, process_group: int) -> None:
    # A background process group may set the foreground only with SIGTTOU ignored (as job-control shells do).
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):  # the group may be gone already
            os.tcsetpgrp(fd, process_group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _local_key() -> str:
    import json

    values = json.loads(SETTINGS.read_text(encoding="utf-8")).get("Values", {})
    return os.environ.get("LOCAL_FUNCTION_KEY") or values.get("LOCAL_FUNCTION_KEY", "")


if __name__ == "__main__":
    sys.exit(main())
