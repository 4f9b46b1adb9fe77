import pytest

from shared.config import SettingsError, StorageConnection, get_settings, reset_settings


@pytest.fixture(autouse=True)
def _fresh():
    reset_settings()
    yield
    reset_settings()


def test_defaults_apply_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv("INGEST_MAX_LINES", raising=False)
    assert get_settings().max_lines_per_request == 10_000


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("ALLOWED_DATA_SOURCES", " pos, ecom ,,")
    assert get_settings().allowed_data_sources == ("pos", "ecom")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INGEST_MAX_LINES", "lots"),
        ("INGEST_MAX_LINES", "0"),
        ("ALLOWED_DATA_SOURCES", " , "),
        ("OMNISYNC_STORAGE_NAME_PREFIX", "Bad-Prefix"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        get_settings()


def test_settings_are_read_when_asked_not_at_import(monkeypatch):
    monkeypatch.setenv("INGEST_MAX_LINES", "5")
    assert get_settings().max_lines_per_request == 5
    monkeypatch.setenv("INGEST_MAX_LINES", "6")
    reset_settings()
    assert get_settings().max_lines_per_request == 6


def test_storage_connection_string_or_identity(monkeypatch):
    monkeypatch.setenv("S", "UseDevelopmentStorage=true")
    assert StorageConnection.from_environment("S").connection_string == "UseDevelopmentStorage=true"
    monkeypatch.delenv("S")
    monkeypatch.setenv("S__accountName", "acct")
    monkeypatch.setenv("S__clientId", "cid")
    conn = StorageConnection.from_environment("S")
    assert conn.table_uri == "https://acct.table.core.windows.net"
    assert conn.blob_uri == "https://acct.blob.core.windows.net"
    assert conn.client_id == "cid" and conn.connection_string is None
    monkeypatch.delenv("S__accountName")
    with pytest.raises(SettingsError, match="S__accountName"):
        StorageConnection.from_environment("S")
