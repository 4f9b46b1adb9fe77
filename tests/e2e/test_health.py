import httpx

from shared import __version__


def test_health_answers_anonymously_with_version_and_storage_ok(running_app):
    response = httpx.get(f"{running_app.base_url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "storage": {"table": "ok", "blob": "ok"}}
