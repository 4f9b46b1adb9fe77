"""Start and stop an Azurite (Blob, Queue, Table) for local runs and tests.

Azurite is installed from npm into `.tools/` by the Makefile; nothing global is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".tools" / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key; not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_PORTS = (10000, 10001, 10002)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def connection_string(blob: int, queue: int, table: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{ACCOUNT};QueueEndpoint=http://{host}:{queue}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{table}/{ACCOUNT};"
    )


@dataclass
class Azurite:
    """One Azurite process with its own data folder; `ports` default to free ones.

    `in_memory`: keep the data in memory only (`--inMemoryPersistence`), for benchmarks. With its
    disk persistence Azurite rewrites its whole table database as one JSON file every 5 seconds
    (LokiJS autosave): 137 MB in a default-size `bench/scale.py` run, so the emulator's CPU went on
    serialising every row it held, touched or not, and throughput fell with everything stored
    before. Tests keep the disk: they restart Azurite on the same data (`restart`)."""

    location: Path
    ports: tuple[int, int, int] = field(default_factory=lambda: (free_port(), free_port(), free_port()))
    process: subprocess.Popen[bytes] | None = None
    in_memory: bool = False

    @property
    def connection_string(self) -> str:
        return connection_string(*self.ports)

    def start(self, timeout_s: float = 60) -> Azurite:
        binary = AZURITE_BIN if AZURITE_BIN.exists() else shutil.which("azurite")
        if not binary:
            raise RuntimeError("Azurite is not installed: run `make tools` (npm install into .tools/)")
        self.location.mkdir(parents=True, exist_ok=True)
        blob, queue, table = self.ports
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [
                str(binary),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                # Azurite 3.35 reports every request to Application Insights by default: usage data
                # leaving a developer's machine, and ~5-10 % of its CPU per request (measured).
                "--disableTelemetry",
                *(["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.location)]),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(blob),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(queue),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(table),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not all(port_open(p) for p in self.ports):
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not open ports {self.ports} within {timeout_s}s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same ports and data folder (tests of crash recovery use this)."""
        self.stop()
        self.start()
