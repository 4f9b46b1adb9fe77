"""Who may call which environment: API keys and Entra ID app roles, decided without I/O.

An environment is a customer's (or a test system's) whole inventory; a POS integration of one retailer
must not read or write another's. Both credentials therefore carry environment grants: an API key lists
the environments it is for (or all), and an Entra ID identity is granted an environment by the app roles
in its token, mapped per environment in configuration. Nothing is allowed by default.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.domain.identifiers import ENVIRONMENT_ID

ALL_ENVIRONMENTS = "*"


class AccessConfigError(ValueError):
    """An API key list or a role mapping in the settings is malformed; the message says how, in plain words."""


@dataclass(frozen=True)
class Grant:
    """The environments one caller may use; `everything` for keys and roles granted every environment."""

    who: str
    environments: frozenset[str]
    everything: bool = False

    def allows(self, environment_id: str | None) -> bool:
        if self.everything:
            return True
        return environment_id is not None and environment_id in self.environments


@dataclass(frozen=True)
class EntraSettings:
    tenant_id: str
    audiences: tuple[str, ...]
    jwks_url: str = ""

    def keys_url(self) -> str:
        return self.jwks_url or f"https://login.microsoftonline.com/{self.tenant_id}/discovery/v2.0/keys"

    def issuers(self) -> tuple[str, str]:
        # v2.0 tokens and v1.0 tokens (an API whose manifest keeps accessTokenAcceptedVersion null) differ here.
        return (
            f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
            f"https://sts.windows.net/{self.tenant_id}/",
        )


@dataclass(frozen=True)
class ApiKey:
    name: str
    secret: str
    grant: Grant


def _environments(value: object, where: str) -> tuple[frozenset[str], bool]:
    if value == ALL_ENVIRONMENTS:
        return frozenset(), True
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise AccessConfigError(f'{where}: "environments" must be "*" or a non-empty list of environment ids')
    bad = [item for item in value if item != ALL_ENVIRONMENTS and not ENVIRONMENT_ID.fullmatch(item)]
    if bad:
        raise AccessConfigError(f"{where}: {bad[0]!r} is not an environment id")
    return frozenset(item for item in value if item != ALL_ENVIRONMENTS), ALL_ENVIRONMENTS in value


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """`[{"name": "pos-east", "key": "…", "environments": ["contoso-prod"]}]`; `"*"` grants every environment."""
    if not text.strip():
        return ()
    try:
        items = json.loads(text)
    except ValueError:
        raise AccessConfigError("API_KEYS is not JSON: expected a list of {name, key, environments}") from None
    if not isinstance(items, list):
        raise AccessConfigError("API_KEYS must be a JSON list of {name, key, environments}")
    keys: list[ApiKey] = []
    for position, item in enumerate(items):
        where = f"API_KEYS[{position}]"
        if not isinstance(item, dict) or set(item) - {"name", "key", "environments"}:
            raise AccessConfigError(f"{where} must be an object with name, key and environments only")
        name, secret = item.get("name"), item.get("key")
        if not isinstance(name, str) or not name.strip():
            raise AccessConfigError(f"{where}: name is missing")
        if not isinstance(secret, str) or len(secret) < 32:
            raise AccessConfigError(f"{where} ({name}): key must be at least 32 characters")
        environments, everything = _environments(item.get("environments"), f"{where} ({name})")
        keys.append(ApiKey(name, secret, Grant(f"key:{name}", environments, everything)))
    if len({key.secret for key in keys}) != len(keys):
        raise AccessConfigError("API_KEYS lists the same key twice")
    return tuple(keys)


def find_key(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """Constant-time comparison against every key, so timing does not tell how much of a key was right."""
    found: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(key.secret.encode("utf-8"), presented.encode("utf-8", "backslashreplace")):
            found = key
    return found


def parse_role_grants(text: str) -> dict[str, frozenset[str]]:
    """`{"contoso-prod": ["Omnisync.Contoso"], "*": ["Omnisync.Admin"]}`: app role values per environment."""
    if not text.strip():
        return {}
    try:
        mapping = json.loads(text)
    except ValueError:
        raise AccessConfigError("ENTRA_ENVIRONMENT_ROLES is not JSON: expected {environmentId: [role, …]}") from None
    if not isinstance(mapping, dict):
        raise AccessConfigError("ENTRA_ENVIRONMENT_ROLES must be a JSON object {environmentId: [role, …]}")
    grants: dict[str, frozenset[str]] = {}
    for environment, roles in mapping.items():
        if environment != ALL_ENVIRONMENTS and not ENVIRONMENT_ID.fullmatch(environment):
            raise AccessConfigError(f"ENTRA_ENVIRONMENT_ROLES: {environment!r} is not an environment id")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r.strip() for r in roles):
            raise AccessConfigError(f"ENTRA_ENVIRONMENT_ROLES[{environment!r}] must be a non-empty list of role names")
        grants[environment] = frozenset(roles)
    return grants


def grant_of_token(claims: Mapping[str, object], role_grants: Mapping[str, frozenset[str]]) -> Grant:
    """Environments whose mapped roles meet the token's `roles` claim (app roles of users and of applications)."""
    roles_claim = claims.get("roles")
    roles = frozenset(r for r in roles_claim if isinstance(r, str)) if isinstance(roles_claim, list) else frozenset()
    who = str(claims.get("oid") or claims.get("azp") or claims.get("appid") or claims.get("sub") or "unknown")
    everything = bool(roles & role_grants.get(ALL_ENVIRONMENTS, frozenset()))
    environments = frozenset(
        environment for environment, mapped in role_grants.items() if environment != ALL_ENVIRONMENTS and roles & mapped
    )
    return Grant(f"entra:{who}", environments, everything)
