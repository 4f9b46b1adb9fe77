"""The storage clients' HTTP session reads the environment once, not on every call."""

from __future__ import annotations

import pytest
import requests

from shared.adapters.storage_clients import _environment_session

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def no_proxies(monkeypatch):
    for name in (*PROXY_VARIABLES, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_without_proxies_the_environment_is_not_searched_per_call(no_proxies):
    session = requests.Session()
    _environment_session(session)
    assert session.trust_env is False
    assert session.verify is True


def test_a_ca_bundle_from_the_environment_is_still_used(no_proxies, monkeypatch, tmp_path):
    bundle = tmp_path / "corporate.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = requests.Session()
    _environment_session(session)
    assert session.trust_env is False
    assert session.verify == str(bundle)


def test_with_a_proxy_requests_keeps_reading_the_environment(no_proxies, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = requests.Session()
    _environment_session(session)
    assert session.trust_env is True
