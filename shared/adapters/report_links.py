"""Short-lived read links to one report blob (the valet-key pattern), so big files skip the app.

A bad day's proposed journal is 132 MB and its workbook and CSVs are tens of MB. Answered through
the HTTP function, each download held the file in the worker (and again in the host) while it was
sent: a few finance users downloading at once could take the memory a reconciliation run needs on
the same instance. A link lets the browser (or curl) read the blob from storage directly.

Each link is a SAS for one blob, read only, valid for minutes, with the download's file name and
content type fixed in the signature. In Azure shared-key access is off (infra/bicep), so it is a
*user delegation* SAS signed with a key the app's identity asks for (its Storage Blob Data Owner
role allows that); locally, with Azurite's connection string, it is signed with the account key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

_KEY_LIFETIME = timedelta(hours=6)
"""How long a user delegation key is asked for (at most 7 days); links are signed with it meanwhile."""
_CLOCK_SKEW = timedelta(minutes=5)
"""Links start this much before now, so a storage clock slightly behind ours still accepts them."""

_lock = threading.Lock()
_keys: dict[str, UserDelegationKey] = {}


@dataclass(frozen=True)
class ReadLink:
    url: str
    expires_on: datetime


def read_link(
    service: BlobServiceClient,
    container: str,
    blob: str,
    *,
    file_name: str,
    content_type: str,
    lifetime: timedelta,
    now: datetime,
) -> ReadLink:
    """A URL that reads exactly ``container/blob`` until ``now + lifetime``, downloaded as ``file_name``."""
    expiry = now + lifetime
    start = now - _CLOCK_SKEW
    signing: dict[str, object]
    account_key = getattr(service.credential, "account_key", None)
    if account_key:
        signing = {"account_key": account_key}
    else:
        signing = {"user_delegation_key": _delegation_key(service, now, expiry)}
    token = generate_blob_sas(
        account_name=service.account_name or "",
        container_name=container,
        blob_name=blob,
        permission=BlobSasPermissions(read=True),
        start=start,
        expiry=expiry,
        # https only wherever storage speaks it (Azure); Azurite's local endpoint is plain http
        protocol="https" if service.url.startswith("https://") else "https,http",
        content_disposition=f'attachment; filename="{file_name}"',
        content_type=content_type,
        **signing,  # type: ignore[arg-type]
    )
    blob_url = service.get_blob_client(container, blob).url
    return ReadLink(url=f"{blob_url}?{token}", expires_on=expiry)


def _delegation_key(service: BlobServiceClient, now: datetime, link_expiry: datetime) -> UserDelegationKey:
    """The process's user delegation key, asked for again when it would expire before the link does."""
    cache_key = service.url
    with _lock:
        key = _keys.get(cache_key)
        if key is None or _expiry_of(key) < link_expiry:
            key = service.get_user_delegation_key(now - _CLOCK_SKEW, now + _KEY_LIFETIME)
            _keys[cache_key] = key
        return key


def _expiry_of(key: UserDelegationKey) -> datetime:
    value = key.signed_expiry
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
