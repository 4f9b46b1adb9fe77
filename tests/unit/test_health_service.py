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
    assert body["storage"] == {"table": "unavailable", "blob": "ok"}
    assert "secret-account" not in str(body) and "ConnectionError" not in str(body)


def test_every_probe_failing_is_unavailable_without_exception_names():
    body = check_health({"table": _fails, "blob": _fails}).as_dict()
    assert body["status"] == "unavailable" and body["storage"] == {"table": "unavailable", "blob": "unavailable"}
    assert "Error" not in str(body)
