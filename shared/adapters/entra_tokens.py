"""Validates Microsoft Entra ID access tokens in the app (signature, issuer, audience, lifetime).

Why in the app and not App Service authentication alone: the Functions host checks function keys only
for routes it marks `function`, and a route cannot be "key or token" there (a bearer-only caller would get
the host's 401). So routes are anonymous at the host and the app accepts either credential, and the
per-environment grant needs the app anyway. Signing keys come from the tenant's JWKS document and are
cached (PyJWT's PyJWKClient), so a request costs no network call after the first.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import jwt

from shared.domain.access import EntraSettings

LEEWAY_S = 60
"""Clock skew tolerated on `exp`/`nbf`, as Microsoft's own middleware does (5 min there; 1 min is enough)."""


class InvalidToken(Exception):
    """The bearer token is not acceptable; the message is safe to return (it never echoes the token)."""


_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _client(url: str) -> jwt.PyJWKClient:
    with _lock:
        if url not in _clients:
            _clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
        return _clients[url]


def validate(token: str, settings: EntraSettings) -> Mapping[str, object]:
    """The token's claims when it is signed by the tenant, for our API, and current; otherwise InvalidToken."""
    try:
        key = _client(settings.keys_url()).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError:
        raise InvalidToken("the signing keys of the tenant could not be fetched") from None
    except (jwt.PyJWKClientError, jwt.DecodeError):
        raise InvalidToken("the token is malformed or signed by an unknown key") from None
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=list(settings.audiences),
            leeway=LEEWAY_S,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is for another audience") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is not valid") from None
    if claims.get("iss") not in settings.issuers():
        raise InvalidToken("the token is from another tenant")
    if claims.get("tid") not in (None, settings.tenant_id):
        raise InvalidToken("the token is from another tenant")
    return claims
