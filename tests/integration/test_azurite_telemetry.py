"""The Azurite that `make run`, `make test` and the benchmarks start reports nothing to Microsoft.

Azurite 3.35 sends a record of every request to Application Insights unless told not to, and keeps an
instance id for it (`AzuriteConfig`) in its data folder: usage data leaving a developer's or CI machine
(and about 5-10 % of the emulator's CPU per request, measured against `--disableTelemetry`).
"""

from __future__ import annotations

from pathlib import Path

from azure.data.tables import TableServiceClient

from devtools.azurite import Azurite


def test_our_azurite_runs_with_telemetry_off(tmp_path: Path) -> None:
    instance = Azurite(tmp_path / "azurite").start()
    try:
        service = TableServiceClient.from_connection_string(instance.connection_string)
        service.create_table("telemetrycheck").create_entity({"PartitionKey": "p", "RowKey": "r"})
    finally:
        instance.stop()
    assert (tmp_path / "azurite").is_dir()
    assert not (tmp_path / "azurite" / "AzuriteConfig").exists(), "Azurite kept a telemetry instance id"
