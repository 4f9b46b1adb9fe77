"""The real function app, started as `python -m devtools.localrunner` against the test Azurite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-key"


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    admin_url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-functions-key": self.key}

    def run_timer(self, name: str) -> None:
        response = httpx.post(f"{self.admin_url}/functions/{name}", headers=self.headers, timeout=120)
        assert response.status_code == 202, response.text


def _start_app(storage_connection: str, log_path: Path, flags: list[str], overrides: dict[str, str]):
    port = free_port()
    env = {
        **os.environ,
        "OMNISYNC_STORAGE": storage_connection,
        "AzureWebJobsStorage": storage_connection,
        "OMNISYNC_STORAGE_NAME_PREFIX": "e2e",
        "WORK_QUEUE_PREFIX": "e2e-work",
        "SWEEP_MIN_AGE_SECONDS": "0",
        "SEND_DELAY_SECONDS": "1",
        "AGGREGATE_DELAY_SECONDS": "1",
        "LOCAL_FUNCTION_KEY": KEY,
        **overrides,
    }
    sample = ROOT / "local.settings.sample.json"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.localrunner",
            "--settings",
            str(sample),
            "--port",
            str(port),
            "--no-timers",
            "--blob-poll-seconds",
            "0.5",
            *flags,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = RunningApp(f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}/admin", KEY)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{app.base_url}/health", timeout=2).status_code in (200, 503):
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"function app did not start; see {log.name}")
        time.sleep(0.2)
    return app, process, log


@pytest.fixture(scope="session")
def running_app(storage_connection: str, tmp_path_factory: pytest.TempPathFactory):
    """Timers and queues off: tests drive each stage themselves (`run_timer`), so every step is observable."""
    app, process, log = _start_app(
        storage_connection, tmp_path_factory.mktemp("runner") / "runner.log", ["--no-queues"], {}
    )
    yield app
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def queued_app(storage_connection: str, tmp_path_factory: pytest.TempPathFactory):
    """As deployed: queue triggers deliver the work (timers still off), with their own tables and queues."""
    app, process, log = _start_app(
        storage_connection,
        tmp_path_factory.mktemp("queued") / "runner.log",
        [],
        # report files over 256 KiB (32 MiB by default) come through read links, so a test can show one
        {"OMNISYNC_STORAGE_NAME_PREFIX": "e2eq", "WORK_QUEUE_PREFIX": "e2eq-work", "REPORT_INLINE_MAX_BYTES": "262144"},
    )
    yield app
    process.terminate()
    process.wait(timeout=20)
    log.close()
