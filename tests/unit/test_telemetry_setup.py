"""Where telemetry goes is chosen lazily from the settings; importing the app configures nothing.

Each case runs in a fresh interpreter: OpenTelemetry's global providers can be set once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.telemetry import _entra_identity

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from opentelemetry import trace
import function_app  # registers every function; must not touch telemetry
assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "configured at import time"
from shared import telemetry
print(telemetry.configure())
print(type(trace.get_tracer_provider()).__name__)
"""
# A syntactically valid connection string whose endpoint is a closed local port: nothing leaves the machine.
FAKE_CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "TELEMETRY_", "OTEL_"))}
    clean.update(env, OTEL_SDK_DISABLED="false", APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_nothing_is_exported_locally_by_default() -> None:
    assert _probe() == ["none", "ProxyTracerProvider"]


def test_console_when_asked() -> None:
    assert _probe(TELEMETRY_EXPORTER="console") == ["console", "TracerProvider"]


def test_application_insights_when_its_connection_string_is_set() -> None:
    out = _probe(APPLICATIONINSIGHTS_CONNECTION_STRING=FAKE_CONNECTION)
    assert out[0] == "azure-monitor" and out[1] != "ProxyTracerProvider"


def test_none_wins_over_a_connection_string() -> None:
    assert _probe(APPLICATIONINSIGHTS_CONNECTION_STRING=FAKE_CONNECTION, TELEMETRY_EXPORTER="none")[0] == "none"


@pytest.mark.parametrize(
    ("authentication", "client_id"),
    [
        ("ClientId=abc;Authorization=AAD", "abc"),
        ("Authorization=AAD;ClientId=abc", "abc"),
        ("Authorization=AAD", ""),  # the system-assigned identity
        ("", None),
        ("ClientId=abc", None),
    ],
)
def test_managed_identity_of_the_authentication_string(authentication: str, client_id: str | None) -> None:
    assert _entra_identity(authentication) == client_id
