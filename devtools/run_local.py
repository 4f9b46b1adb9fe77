"""`make run`: Azurite on the default ports, the function app on 127.0.0.1:7071, and where to look."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from devtools.azurite import DEFAULT_PORTS, ROOT, Azurite, port_open

SETTINGS = ROOT / "local.settings.json"
SAMPLE = ROOT / "local.settings.sample.json"


def main() -> int:
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
        key = _local_key()
        print(
            "\nomnisync is starting:\n"
            "  API base URL:     http://127.0.0.1:7071/api\n"
            "  health:           curl http://127.0.0.1:7071/api/health\n"
            f"  function key:     {key}  (header x-functions-key, or ?code=)\n"
            "  run a timer now:  curl -X POST -H 'x-functions-key: <key>' "
            "http://127.0.0.1:7071/admin/functions/<timer name>\n"
            "  snapshots:        upload {runId}/erp.csv and {runId}/wms.csv to container 'snapshots'"
            " of Azurite (UseDevelopmentStorage=true), e.g. `make drop-samples`\n"
            "  stop:             Ctrl+C\n",
            flush=True,
        )
        runner = subprocess.Popen([sys.executable, "-m", "devtools.localrunner"], cwd=ROOT)
        signal.signal(signal.SIGTERM, lambda *_: runner.terminate())
        try:
            return runner.wait()
        except KeyboardInterrupt:
            runner.terminate()
            return runner.wait()
    finally:
        # Whatever ends this process (Ctrl+C, SIGTERM, the runner exiting), Azurite goes with it.
        if azurite:
            azurite.stop()


def _local_key() -> str:
    import json

    values = json.loads(SETTINGS.read_text(encoding="utf-8")).get("Values", {})
    return os.environ.get("LOCAL_FUNCTION_KEY") or values.get("LOCAL_FUNCTION_KEY", "")


if __name__ == "__main__":
    sys.exit(main())
