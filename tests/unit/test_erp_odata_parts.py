"""Small pieces of the D365 OData connector that need no server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from shared.adapters.erp_odata import (
    CredentialTokenProvider,
    ODataErpConnector,
    encode_json,
    odata_connector_from_settings,
    odata_error_text,
    odata_string,
    parse_retry_after,
)
from shared.domain.journals import Journal, JournalLine


@dataclass
class _Token:
    token: str
    expires_on: int


class _Credential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> _Token:
        self.scopes.append(scopes)
        return _Token(f"t{len(self.scopes)}", expires_on=1_000)


def test_token_provider_asks_for_the_scope_caches_and_refreshes() -> None:
    credential = _Credential()
    now = [0.0]
    provider = CredentialTokenProvider(
        credential, "https://x.operations.dynamics.com/.default", refresh_margin_s=100, clock=lambda: now[0]
    )

    assert provider() == "t1"
    assert provider() == "t1"  # cached
    assert provider(force_refresh=True) == "t2"  # after a 401
    now[0] = 950.0  # within the margin before expiry
    assert provider() == "t3"
    assert credential.scopes == [("https://x.operations.dynamics.com/.default",)] * 3


def test_factory_uses_a_client_secret_credential_without_calling_entra() -> None:
    connector = odata_connector_from_settings(
        "https://x.operations.dynamics.com/", tenant_id="t", client_id="c", client_secret="s", max_retries=1
    )
    try:
        assert isinstance(connector, ODataErpConnector)
    finally:
        connector.close()


def test_factory_refuses_a_secret_without_tenant_and_client() -> None:
    with pytest.raises(ValueError):
        odata_connector_from_settings("https://x.operations.dynamics.com", client_secret="s")


@pytest.mark.parametrize(
    ("raw", "literal"),
    [("abc", "'abc'"), ("O'Brien", "'O''Brien'"), ("''", "''''''"), ("", "''")],
)
def test_odata_string_literal(raw: str, literal: str) -> None:
    assert odata_string(raw) == literal


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None


def test_error_text_keeps_both_generic_and_inner_messages() -> None:
    body = b'{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Item X blocked."}}}'
    assert odata_error_text(body) == "An error has occurred.\nItem X blocked."
    assert odata_error_text(b"<html>gateway</html>") == "<html>gateway</html>"


def test_decimals_are_written_exactly() -> None:
    assert encode_json({"q": Decimal("0.1"), "big": Decimal("1E+3"), "s": "x"}) == b'{"q":0.1,"big":1000,"s":"x"}'
    with pytest.raises(ValueError):
        encode_json({"q": Decimal("NaN")})


def test_a_garbage_200_body_is_a_retryable_outcome_not_an_exception() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>sign in</html>", headers={"Content-Type": "text/html"})

    sleeps: list[float] = []
    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        lambda *, force_refresh=False: "tok",
        max_retries=1,
        sleep=sleeps.append,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    journal = Journal("OS-dev-1", "dev", "usmf", "adjustment", "IAdj", "Created", (JournalLine("l1", "A", Decimal(1)),))

    outcome = connector.send(journal)

    assert outcome.state == "create_error"
    assert outcome.retryable is True
    assert sleeps == [1.0]


def test_next_link_to_another_host_is_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(200, json={"value": [], "@odata.nextLink": "https://evil.example/data/X"})

    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        lambda *, force_refresh=False: "tok",
        max_retries=0,
        sleep=lambda s: None,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    journal = Journal("OS-dev-1", "dev", "usmf", "adjustment", "IAdj", "Created", (JournalLine("l1", "A", Decimal(1)),))

    outcome = connector.send(journal)

    assert outcome.state == "create_error"
    assert seen == ["x.operations.dynamics.com"]
