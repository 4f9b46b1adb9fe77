"""Entra ID bearer tokens and scoped API keys against the running app, with a signing key made by the test.

The tenant's JWKS document is served by a tiny HTTP server in this process (ENTRA_JWKS_URL), so the app
fetches and caches real keys exactly as it would from login.microsoftonline.com, without network.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import KEY, _start_app

TENANT = "3f1c2a7e-8d4b-4c1e-9a2f-6b5d4e3c2a10"
AUDIENCE = "api://omnisync-test"
SCOPED_KEY = "pos-east-key-0123456789abcdefghijklmnop"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING = _private_key()
STRANGER = _private_key()  # a key the tenant never published


def _jwks() -> bytes:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING.public_key()))
    return json.dumps({"keys": [{**public, "kid": "test-kid", "use": "sig", "alg": "RS256"}]}).encode()


class _Keys(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _jwks()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def token(roles: list[str], *, key=SIGNING, kid="test-kid", **overrides: object) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "tid": TENANT,
        "oid": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": roles,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def entra_app(storage_connection, tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    overrides = {
        "OMNISYNC_STORAGE_NAME_PREFIX": "e2eauth",
        "WORK_QUEUE_PREFIX": "e2eauth-work",
        "ENTRA_TENANT_ID": TENANT,
        "ENTRA_AUDIENCE": AUDIENCE,
        "ENTRA_ENVIRONMENT_ROLES": json.dumps({"env-a": ["Omnisync.EnvA"], "*": ["Omnisync.Admin"]}),
        "ENTRA_JWKS_URL": f"http://127.0.0.1:{server.server_port}/keys",
        "API_KEYS": json.dumps([{"name": "pos-east", "key": SCOPED_KEY, "environments": ["env-a"]}]),
    }
    app, process, log = _start_app(
        storage_connection, tmp_path_factory.mktemp("entra") / "runner.log", ["--no-queues"], overrides
    )
    yield app
    process.terminate()
    process.wait(timeout=20)
    log.close()
    server.shutdown()


def _lines(app, environment: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{app.base_url}/environment/{environment}/transaction/adjustment", headers=headers, timeout=30)


def _post(app, environment: str, headers: dict[str, str], line_id: str) -> httpx.Response:
    body = [
        {
            "id": line_id,
            "organizationId": "usmf",
            "productId": "P-1",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "dimensions": {"siteId": "1", "locationId": "11"},
            "quantity": 2,
        }
    ]
    return httpx.post(
        f"{app.base_url}/environment/{environment}/transaction/adjustment/bulk", json=body, headers=headers, timeout=30
    )


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_a_token_with_the_environment_role_reads_and_writes_that_environment(entra_app):
    headers = _bearer(token(["Omnisync.EnvA"]))
    assert _post(entra_app, "env-a", headers, "tok-a-1").status_code == 200
    listed = _lines(entra_app, "env-a", headers)
    assert listed.status_code == 200
    assert "tok-a-1" in listed.text


def test_a_token_without_the_role_of_an_environment_is_forbidden_and_nothing_is_stored(entra_app):
    headers = _bearer(token(["Omnisync.EnvA"]))
    refused = _post(entra_app, "env-b", headers, "tok-b-1")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "Forbidden"
    admin = _lines(entra_app, "env-b", {"x-functions-key": KEY})
    assert admin.status_code == 200 and "tok-b-1" not in admin.text


def test_the_all_environments_role_reaches_every_environment(entra_app):
    assert _lines(entra_app, "env-zz", _bearer(token(["Omnisync.Admin"]))).status_code == 200


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda: token(["Omnisync.Admin"], exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        ("other audience", lambda: token(["Omnisync.Admin"], aud="api://someone-else")),
        ("other tenant", lambda: token(["Omnisync.Admin"], iss="https://login.microsoftonline.com/other/v2.0")),
        ("unknown signing key", lambda: token(["Omnisync.Admin"], key=STRANGER, kid="stranger")),
        ("forged with the known kid", lambda: token(["Omnisync.Admin"], key=STRANGER)),
        ("not a token", lambda: "not.a.token"),
        ("unsigned", lambda: jwt.encode({"aud": AUDIENCE, "iss": ISSUER, "exp": 2**31}, None, algorithm="none")),
    ],
)
def test_a_bad_token_is_refused_with_401_and_says_why_without_echoing_it(entra_app, case, make):
    bad = make()
    response = _lines(entra_app, "env-a", _bearer(bad))
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"]["code"] == "Unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert bad not in response.text


def test_a_scoped_api_key_reaches_only_its_environments(entra_app):
    key = {"x-functions-key": SCOPED_KEY}
    assert _lines(entra_app, "env-a", key).status_code == 200
    assert _lines(entra_app, "env-b", key).status_code == 403
    assert _lines(entra_app, "env-a", {"x-functions-key": SCOPED_KEY[:-1] + "x"}).status_code == 401


def test_the_local_key_still_works_as_a_query_parameter(entra_app):
    response = httpx.get(f"{entra_app.base_url}/environment/env-q/transaction/adjustment?code={KEY}", timeout=30)
    assert response.status_code == 200


def test_a_token_is_refused_where_entra_is_not_configured(running_app):
    response = _lines(running_app, "env-a", _bearer(token(["Omnisync.Admin"])))
    assert response.status_code == 401
    assert "Entra ID" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "transaction/adjustment",
        "transaction/aggregated",
        "reconciliation",
        "levels/fieldservice/sent",
        "levels/fieldservice/pending",
        "levels/fieldservice/failures",
    ],
)
def test_the_key_as_a_query_parameter_is_not_taken_for_a_filter_on_any_list_route(entra_app, path):
    from pathlib import Path

    base = f"{entra_app.base_url}/environment/env-code"
    configuration = (Path(__file__).resolve().parents[2] / "samples" / "level_target_configuration.json").read_bytes()
    put = httpx.put(
        f"{base}/configuration?code={KEY}",
        content=configuration,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    response = httpx.get(f"{base}/{path}?code={KEY}", timeout=30)
    assert response.status_code == 200, response.text
