from devtools.azurite import connection_string, free_port
from functions.health import health
from tests.http_requests import app_request


def test_health_is_503_and_reveals_no_endpoint_when_storage_does_not_answer(app_env, monkeypatch):
    closed = free_port()
    monkeypatch.setenv("OMNISYNC_STORAGE", connection_string(closed, closed, closed))
    from shared.adapters.storage_clients import reset_clients

    reset_clients()
    response = health(app_request("GET", "http://localhost/api/health", body=b""))
    body = response.get_body().decode()
    assert response.status_code == 503
    assert '"status": "unavailable"' in body and "Error" not in body
    assert str(closed) not in body and "127.0.0.1" not in body
