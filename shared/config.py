"""Typed application settings, read from the environment on first use.

Settings are never read at import time: an import-time error makes the Functions host load
zero functions, and tests need to change the environment between cases. Every setting the
app reads is a field here, so `local.settings.sample.json` and the Bicep app settings can be
checked against this one list (tests/unit/test_deployment_settings.py, names and defaults).
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain.access import ApiKey, EntraSettings, Grant, parse_api_keys, parse_role_grants
from shared.domain.aggregation import JournalMapping

STORAGE_CONNECTION = "OMNISYNC_STORAGE"
"""Name of the storage connection: a connection string, or `OMNISYNC_STORAGE__*` identity settings."""


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the setting."""


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """The app's settings, read from the environment by pydantic-settings when constructed.

    Field aliases are the exact environment variable names (case-sensitive, as on Linux hosts).
    Lists are comma-separated text, not JSON (``NoDecode``).
    """

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore", case_sensitive=True)

    environment_name: str = Field("local", alias="OMNISYNC_ENVIRONMENT_NAME", max_length=40)
    storage_name_prefix: str = Field("", alias="OMNISYNC_STORAGE_NAME_PREFIX", pattern=r"^[a-z0-9]{0,12}$")
    sync_schedule: str = Field("0 */1 * * * *", alias="SYNC_SCHEDULE")
    send_schedule: str = Field("45 */2 * * * *", alias="SEND_JOURNALS_SCHEDULE")
    work_queue_prefix: str = Field("omnisync", alias="WORK_QUEUE_PREFIX", pattern=r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$")
    sweep_budget_s: int = Field(420, alias="SWEEP_BUDGET_SECONDS", gt=0, le=540)
    sweep_min_age_s: int = Field(60, alias="SWEEP_MIN_AGE_SECONDS", ge=0, le=3600)
    aggregate_delay_s: int = Field(30, alias="AGGREGATE_DELAY_SECONDS", ge=0, le=600)
    send_delay_s: int = Field(30, alias="SEND_DELAY_SECONDS", ge=0, le=600)
    max_body_bytes: int = Field(8 * 1024 * 1024, alias="INGEST_MAX_BODY_BYTES", gt=0, le=100 * 1024 * 1024)
    max_lines_per_request: int = Field(10_000, alias="INGEST_MAX_LINES", gt=0, le=100_000)
    onhand_max_events: int = Field(512, alias="ONHAND_MAX_EVENTS", gt=0, le=10_000)
    report_inline_max_bytes: int = Field(
        32 * 1024 * 1024, alias="REPORT_INLINE_MAX_BYTES", ge=1024, le=1024 * 1024 * 1024
    )
    """Report files up to this size are answered through the API; bigger ones only through a read link.

    Raise it (up to 1 GiB) where users' browsers cannot reach the storage account (private endpoints only),
    at the cost of the worker holding each such file while it is answered."""
    report_link_minutes: int = Field(15, alias="REPORT_LINK_MINUTES", ge=1, le=60)
    """How long a report's read link (a SAS for that one blob) stays valid."""
    allowed_data_sources: Annotated[tuple[str, ...], NoDecode] = Field(
        ("@iv", "pos", "ecom", "wms", "fno"), alias="ALLOWED_DATA_SOURCES"
    )
    allowed_physical_measures: Annotated[tuple[str, ...], NoDecode] = Field(
        ("adjustment", "sold", "received", "ordered", "onhand", "counted", "availphysical", "reserved"),
        alias="ALLOWED_PHYSICAL_MEASURES",
    )

    # Reconciliation: app-wide defaults; RECONCILE_CONFIG (a JSON object in the format of
    # docs/reconciliation.md) overrides them, and a run's own snapshots/{runId}/config.json overrides both.
    reconcile_master: Literal["wms", "erp"] = Field("wms", alias="RECONCILE_MASTER")
    reconcile_journal_mode: Literal["movement", "counting"] = Field("movement", alias="RECONCILE_JOURNAL_MODE")
    reconcile_materiality_value: Decimal = Field(Decimal("50"), alias="RECONCILE_MATERIALITY_VALUE", ge=0)
    reconcile_config: str = Field("", alias="RECONCILE_CONFIG")
    reconcile_currency: str = Field("", alias="RECONCILE_CURRENCY", pattern=r"^([A-Z]{3})?$")
    """ISO 4217 code of the ERP unit costs (e.g. EUR) shown next to values in reports; empty: not configured."""

    _split_lists = field_validator("allowed_data_sources", "allowed_physical_measures", mode="before")(_csv)

    @field_validator("allowed_data_sources", "allowed_physical_measures")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one value")
        return value

    @field_validator("reconcile_config")
    @classmethod
    def _json_object(cls, value: str) -> str:
        # Checked here so a typo names the setting at startup, not in every run's error report.
        if value.strip():
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"must be a JSON object: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value

    def reconcile_defaults(self) -> dict[str, object]:
        """The app-wide reconciliation config as a raw dict (a run's config.json is merged over it)."""
        base: dict[str, object] = {
            "master": self.reconcile_master,
            "journal_mode": self.reconcile_journal_mode,
            "materiality": {"value": str(self.reconcile_materiality_value)},
        }
        if self.reconcile_currency:
            base["currency"] = self.reconcile_currency
        if self.reconcile_config.strip():
            base.update(json.loads(self.reconcile_config))
        return base

    journal_mapping: str = Field(
        '{"@iv/adjustment": {"journal_type": "adjustment", "target_status": "Posted"}}', alias="JOURNAL_MAPPING"
    )
    default_journal_name: str = Field("IAdj", alias="DEFAULT_JOURNAL_NAME", max_length=20)
    journal_max_lines: int = Field(1000, alias="JOURNAL_MAX_LINES", gt=0, le=10_000)
    send_max_attempts: int = Field(5, alias="SEND_MAX_ATTEMPTS", gt=0, le=50)
    erp_connector: Literal["outbox", "odata"] = Field("outbox", alias="ERP_CONNECTOR")
    erp_odata_url: str = Field("", alias="ERP_ODATA_URL")
    erp_odata_tenant_id: str = Field("", alias="ERP_ODATA_TENANT_ID")
    erp_odata_client_id: str = Field("", alias="ERP_ODATA_CLIENT_ID")
    erp_odata_client_secret: str = Field("", alias="ERP_ODATA_CLIENT_SECRET", repr=False)
    erp_odata_post_action: str = Field("", alias="ERP_ODATA_POST_ACTION")
    # Level sync to target systems (targets themselves are part of each environment's configuration).
    level_sync_schedule: str = Field("30 */1 * * * *", alias="LEVEL_SYNC_SCHEDULE")
    level_send_delay_s: int = Field(5, alias="LEVEL_SEND_DELAY_SECONDS", ge=0, le=600)
    level_max_lines: int = Field(1000, alias="LEVEL_MAX_LINES", gt=0, le=10_000)

    # Who may call: API keys (JSON list of {name, key, environments}) and Entra ID tokens whose app roles map
    # to environments. LOCAL_FUNCTION_KEY (written by `make run`) is a local all-environment key.
    api_keys: str = Field("", alias="API_KEYS", repr=False)
    local_function_key: str = Field("", alias="LOCAL_FUNCTION_KEY", repr=False)
    entra_tenant_id: str = Field(
        "", alias="ENTRA_TENANT_ID", pattern=r"^$|^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
    )
    entra_audiences: Annotated[tuple[str, ...], NoDecode] = Field((), alias="ENTRA_AUDIENCE")
    entra_environment_roles: str = Field("", alias="ENTRA_ENVIRONMENT_ROLES")
    entra_jwks_url: str = Field("", alias="ENTRA_JWKS_URL", pattern=r"^$|^https?://")

    _split_audiences = field_validator("entra_audiences", mode="before")(_csv)

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, value: str) -> str:
        parse_api_keys(value)
        return value

    @field_validator("entra_environment_roles")
    @classmethod
    def _role_grants(cls, value: str) -> str:
        parse_role_grants(value)
        return value

    def key_list(self) -> tuple[ApiKey, ...]:
        keys = parse_api_keys(self.api_keys)
        if self.local_function_key:
            local = Grant("key:local", frozenset(), everything=True)
            keys = (*keys, ApiKey("local", self.local_function_key, local))
        return keys

    def role_grants(self) -> dict[str, frozenset[str]]:
        return parse_role_grants(self.entra_environment_roles)

    def entra(self) -> EntraSettings | None:
        """Entra ID settings, or None when tokens are not accepted (no tenant configured)."""
        if not self.entra_tenant_id:
            return None
        if not self.entra_audiences:
            raise SettingsError("invalid settings: ENTRA_AUDIENCE: needed when ENTRA_TENANT_ID is set")
        return EntraSettings(self.entra_tenant_id.lower(), self.entra_audiences, self.entra_jwks_url)

    # Telemetry (shared/telemetry.py): Application Insights when its connection string is set.
    telemetry_exporter: Literal["auto", "console", "none"] = Field("auto", alias="TELEMETRY_EXPORTER")
    applicationinsights_connection_string: str = Field("", alias="APPLICATIONINSIGHTS_CONNECTION_STRING", repr=False)
    applicationinsights_authentication_string: str = Field(
        "", alias="APPLICATIONINSIGHTS_AUTHENTICATION_STRING", repr=False
    )

    def mapping(self) -> JournalMapping:
        """The journal mapping; an invalid JSON setting names itself."""
        try:
            targets = json.loads(self.journal_mapping)
            return JournalMapping(targets=targets, default_journal_name=self.default_journal_name)
        except (ValueError, ValidationError) as exc:
            raise SettingsError(f"invalid settings: JOURNAL_MAPPING: {exc}") from None

    def queue_name(self, work: str) -> str:
        """Physical name of a work queue (`sync`, `aggregate`, `send`; see storage_names.QUEUES)."""
        return f"{self.work_queue_prefix}-{work}"

    def storage_connection(self) -> StorageConnection:
        return StorageConnection.from_environment(STORAGE_CONNECTION)


class StorageConnection(BaseModel):
    """Where the app's own tables and blobs live.

    Mirrors how the Functions host resolves a connection name: either the setting itself holds a
    connection string (Azurite, local runs) or `NAME__accountName` / `NAME__tableServiceUri` /
    `NAME__blobServiceUri` (+ `NAME__clientId` for a user-assigned identity) select identity-based
    access, which is what the Bicep deploys (shared-key access is off in Azure).
    """

    model_config = ConfigDict(frozen=True)

    connection_string: str | None = None
    table_uri: str | None = None
    blob_uri: str | None = None
    queue_uri: str | None = None
    client_id: str | None = None

    @classmethod
    def from_environment(cls, name: str) -> StorageConnection:
        env = os.environ
        if env.get(name):
            return cls(connection_string=env[name])
        account = env.get(f"{name}__accountName")
        table_uri = env.get(f"{name}__tableServiceUri") or (account and f"https://{account}.table.core.windows.net")
        blob_uri = env.get(f"{name}__blobServiceUri") or (account and f"https://{account}.blob.core.windows.net")
        queue_uri = env.get(f"{name}__queueServiceUri") or (account and f"https://{account}.queue.core.windows.net")
        if not (table_uri and blob_uri):
            raise SettingsError(
                f"storage is not configured: set {name} to a connection string, "
                f"or {name}__accountName (identity-based access)"
            )
        return cls(table_uri=table_uri, blob_uri=blob_uri, queue_uri=queue_uri, client_id=env.get(f"{name}__clientId"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated once; errors name the offending variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_alias(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False))
        raise SettingsError(f"invalid settings: {problems}") from None


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()


def _alias(loc: tuple[object, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    return info.alias if info and info.alias else field


def setting_names() -> list[str]:
    """Every environment variable the app itself reads (for the settings coverage test)."""
    return [info.alias or name for name, info in Settings.model_fields.items()] + [STORAGE_CONNECTION]
