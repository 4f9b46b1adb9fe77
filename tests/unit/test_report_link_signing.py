"""How a read link is signed when the app has no account key (Azure: shared-key access off).

Azurite hands out no user delegation key to a connection-string client (it needs OAuth over https), so this
path is tested against a stand-in for the one service call it makes; the account-key path runs on Azurite in
tests/integration/test_report_links.py.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.storage.blob import BlobClient, UserDelegationKey

from shared.adapters import report_links
from shared.adapters.report_links import read_link

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class IdentityService:
    """What read_link uses of a BlobServiceClient built on a token credential (no account key)."""

    url: str = "https://acct.blob.core.windows.net/"
    account_name: str = "acct"
    credential: object = field(default_factory=object)
    asked: list[tuple[datetime, datetime]] = field(default_factory=list)

    def get_blob_client(self, container: str, blob: str) -> BlobClient:
        return BlobClient(self.url, container, blob)

    def get_user_delegation_key(self, start: datetime, expiry: datetime) -> UserDelegationKey:
        self.asked.append((start, expiry))
        key = UserDelegationKey()
        key.signed_oid = "00000000-0000-0000-0000-000000000001"
        key.signed_tid = "00000000-0000-0000-0000-000000000002"
        key.signed_start = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-01-05"
        key.value = base64.b64encode(b"k" * 32).decode()
        return key


@pytest.fixture(autouse=True)
def no_cached_keys():
    report_links._keys.clear()
    yield
    report_links._keys.clear()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _link(service: IdentityService, blob: str, now: datetime) -> report_links.ReadLink:
    name = blob.rsplit("/", 1)[-1]
    return read_link(
        service,  # type: ignore[arg-type]
        "reports",
        blob,
        file_name=f"run-{name}",
        content_type="application/json; charset=utf-8",
        lifetime=timedelta(minutes=15),
        now=now,
    )


def test_without_an_account_key_the_link_is_a_user_delegation_sas_read_only_https_only():
    service = IdentityService()
    link = _link(service, "env/run/proposed_journal.json", NOW)
    assert urlsplit(link.url).path == "/reports/env/run/proposed_journal.json"
    query = _query(link.url)
    assert query["skoid"] == "00000000-0000-0000-0000-000000000001"  # signed by the identity's key
    assert query["sp"] == "r" and query["sr"] == "b" and query["spr"] == "https"
    assert query["rscd"] == 'attachment; filename="run-proposed_journal.json"'
    assert query["se"] == "2026-11-27T12:15:00Z" and link.expires_on == NOW + timedelta(minutes=15)
    assert len(service.asked) == 1


def test_the_signing_key_is_asked_for_once_and_again_only_when_a_link_would_outlive_it():
    service = IdentityService()
    _link(service, "e/r/report.xlsx", NOW)
    _link(service, "e/r/report.xlsx", NOW + timedelta(hours=5))  # the 6-hour key still covers this link
    assert len(service.asked) == 1
    _link(service, "e/r/report.xlsx", NOW + timedelta(hours=5, minutes=50))  # would outlive the key: a new one
    assert len(service.asked) == 2
