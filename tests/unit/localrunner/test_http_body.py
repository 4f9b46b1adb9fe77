"""The runner refuses an oversized body while reading it, never holding more than the limit."""

import asyncio

import pytest
from starlette.requests import Request

from devtools.localrunner.http_host import BodyTooLarge, max_body_bytes, read_body

CHUNK = b"x" * 65_536


def _endless_request(headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Request, list[int]]:
    received = [0]

    async def receive() -> dict:
        received[0] += 1
        return {"type": "http.request", "body": CHUNK, "more_body": True}  # a client that never stops

    scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": headers or [], "query_string": b""}
    return Request(scope, receive), received


def test_an_endless_body_is_abandoned_just_past_the_limit():
    request, received = _endless_request()
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request, 1_000_000))
    assert received[0] == 1_000_000 // len(CHUNK) + 1, "reading stopped at the first chunk past the limit"


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    request, received = _endless_request([(b"content-length", b"300000000")])
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request, 1_000_000))
    assert received[0] == 0


def test_a_body_within_the_limit_is_read_whole():
    chunks = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]

    async def receive() -> dict:
        return chunks.pop(0)

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}, receive)
    assert asyncio.run(read_body(request, 4)) == b"abcd"


def test_the_limit_is_the_apps_own_setting(monkeypatch):
    monkeypatch.setenv("INGEST_MAX_BODY_BYTES", "1234")
    assert max_body_bytes() == 1234
    monkeypatch.setenv("INGEST_MAX_BODY_BYTES", "not a number")
    assert max_body_bytes() == 8 * 1024 * 1024
