from shared.services.health import check_health


def _fails() -> None:
    raise ConnectionError("https://secret-account.table.core.windows.net refused")


def test_all_probes_ok_is_ok():
    report = check_health({"table": lambda: None, "blob": lambda: None})
    assert report.ok and report.as_dict()["status"] == "ok"


def test_a_failing_probe_degrades_and_hides_its_message():
    report = check_health({"table": _fails, "blob": lambda: None})
    body = report.as_dict()
    assert body["status"] == "degraded"
    assert body["storage"] == {"table": "error: ConnectionError", "blob": "ok"}
    assert "secret-account" not in str(body)
