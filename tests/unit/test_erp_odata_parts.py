"""Small pieces of the D365 OData connector that need no server."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from shared.adapters.erp_odata import (
    ODataErpConnector,
    encode_json,
    odata_connector_from_settings,
    odata_error_text,
    odata_string,
    parse_retry_after,
)
from shared.domain.journals import Journal, JournalLine


class _Credential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"t{len(self.scopes)}", int(time.time()) + 3600)


class _Handler(requests.adapters.BaseAdapter):
    """A requests adapter answering from a function: azure-core's own transport, no server."""

    def __init__(self, answer: Callable[[requests.PreparedRequest], tuple[int, dict[str, str], bytes]]) -> None:
        super().__init__()
        self._http = requests.adapters.HTTPAdapter()
        self.answer = answer
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:
        self.seen.append(request)
        status, headers, body = self.answer(request)
        raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, status=status, preload_content=False)
        return self._http.build_response(request, raw)

    def close(self) -> None:
        pass


def _transport(handler: _Handler) -> RequestsTransport:
    session = requests.Session()
    session.mount("https://", handler)
    return RequestsTransport(session=session, session_owner=True)


JOURNAL = Journal("OS-dev-1", "dev", "usmf", "adjustment", "IAdj", "Created", (JournalLine("l1", "A", Decimal(1)),))


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
    handler = _Handler(lambda request: (200, {"Content-Type": "text/html"}, b"<html>sign in</html>"))
    sleeps: list[float] = []
    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        _Credential(),
        max_retries=1,
        sleep=sleeps.append,
        transport=_transport(handler),
    )

    outcome = connector.send(JOURNAL)

    assert outcome.state == "create_error"
    assert outcome.retryable is True
    assert sleeps == [1.0]


def test_next_link_to_another_host_is_not_followed() -> None:
    handler = _Handler(
        lambda request: (
            200,
            {"Content-Type": "application/json"},
            b'{"value": [], "@odata.nextLink": "https://evil.example/data/X"}',
        )
    )
    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        _Credential(),
        max_retries=0,
        sleep=lambda s: None,
        transport=_transport(handler),
    )

    outcome = connector.send(JOURNAL)

    assert outcome.state == "create_error"
    assert [urlsplit(r.url).hostname for r in handler.seen] == ["x.operations.dynamics.com"]


def test_requests_carry_the_bearer_token_and_odata_headers() -> None:
    handler = _Handler(lambda request: (200, {"Content-Type": "application/json"}, b'{"value": []}'))
    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        _Credential(),
        max_retries=0,
        sleep=lambda s: None,
        transport=_transport(handler),
    )

    connector.send(JOURNAL)

    first = handler.seen[0]
    assert first.headers["Authorization"] == "Bearer t1"
    assert first.headers["OData-Version"] == "4.0" and first.headers["Accept"] == "application/json"


def test_plain_http_is_refused_for_a_real_erp_host() -> None:
    handler = _Handler(lambda request: (200, {}, b"{}"))
    session = requests.Session()
    session.mount("http://", handler)
    connector = ODataErpConnector(
        "http://x.operations.dynamics.com",
        _Credential(),
        max_retries=0,
        sleep=lambda s: None,
        transport=RequestsTransport(session=session, session_owner=True),
    )

    outcome = connector.send(JOURNAL)

    assert outcome.state == "create_error"
    assert handler.seen == []  # the token never left over plain HTTP


def test_throttling_is_retried_in_the_pipeline_honouring_retry_after() -> None:
    answers = iter([(429, {"Retry-After": "4"}, b""), (429, {}, b"")])

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        return next(answers, (200, {"Content-Type": "application/json"}, b'{"value": []}'))

    handler = _Handler(answer)
    sleeps: list[float] = []
    connector = ODataErpConnector(
        "https://x.operations.dynamics.com",
        _Credential(),
        max_retries=3,
        sleep=sleeps.append,
        backoff_base_s=0.5,
        transport=_transport(handler),
    )

    connector.send(JOURNAL)

    assert sleeps[:2] == [4.0, 1.0]  # Retry-After, then backoff for the second throttled attempt
    assert handler.seen[0].method == handler.seen[1].method == handler.seen[2].method == "GET"
