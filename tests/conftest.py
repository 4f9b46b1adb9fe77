"""Shared fixtures: one real Azurite per test session, on free ports, stopped at the end.

Set OMNISYNC_TEST_STORAGE to a connection string to use an Azurite you started yourself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from shared.adapters.storage_clients import reset_clients
from shared.config import reset_settings
from tests.http_requests import TEST_KEY

# In-process calls of keyed routes carry this key (tests/http_requests.py); the e2e app gets its own.
os.environ["LOCAL_FUNCTION_KEY"] = TEST_KEY


@pytest.fixture(scope="session", autouse=True)
def app_blueprints_collected() -> None:
    """Collect the app's blueprints once, first: the auth and storage guards then wrap every HTTP function
    whatever order the tests import in, so an in-process call goes through the same checks as on the host."""
    import function_app  # noqa: F401


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite | None]:
    external = os.environ.get("OMNISYNC_TEST_STORAGE")
    if external:
        yield None
        return
    instance = Azurite(tmp_path_factory.mktemp("azurite")).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def storage_connection(azurite: Azurite | None) -> str:
    return os.environ.get("OMNISYNC_TEST_STORAGE") or azurite.connection_string  # type: ignore[union-attr]


@pytest.fixture
def app_env(storage_connection: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the app's settings at the test Azurite, with a table prefix of this test's own."""
    prefix = "t" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("OMNISYNC_STORAGE", storage_connection)
    monkeypatch.setenv("OMNISYNC_STORAGE_NAME_PREFIX", prefix)
    monkeypatch.setenv("WORK_QUEUE_PREFIX", f"q{prefix}")
    reset_settings()
    reset_clients()
    yield prefix
    reset_settings()
    reset_clients()


@pytest.fixture
def environment_id() -> str:
    return "env-" + uuid.uuid4().hex[:10]
