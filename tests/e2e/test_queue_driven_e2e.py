"""As deployed: a posted line reaches the cache and a journal through queue messages, with no timer run."""

from __future__ import annotations

import time
import uuid

import httpx


def _wait_for(condition, timeout_s: float = 60):
    """Poll until `condition()` returns something truthy (a functional wait, not a speed target)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout_s}s")


def test_a_posted_line_reaches_the_cache_and_a_journal_without_any_timer(queued_app):
    env = "q-" + uuid.uuid4().hex[:8]
    base = f"{queued_app.base_url}/environment/{env}"
    lines = [
        {
            "id": f"ql-{i}",
            "organizationId": "usmf",
            "productId": f"Q{i % 2}",
            "quantityDataSource": "@iv",
            "physicalMeasure": "adjustment",
            "dimensions": {"siteId": "1", "locationId": "13"},
            "quantity": i + 1,
        }
        for i in range(4)
    ]
    posted = httpx.post(f"{base}/transaction/adjustment/bulk", json=lines, headers=queued_app.headers)
    assert posted.status_code == 200, posted.text
    assert {line["status"] for line in posted.json()["lines"]} == {"Created"}

    def statuses():
        items = httpx.get(f"{base}/transaction/adjustment", headers=queued_app.headers).json()["items"]
        found = {item["id"]: item["status"] for item in items}
        return (
            found if len(found) == 4 and "Created" not in found.values() and "IVPosted" not in found.values() else None
        )

    assert set(_wait_for(statuses).values()) == {"Aggregated"}
    query = {"filters": {"organizationId": ["usmf"], "productId": ["Q0", "Q1"]}, "groupByValues": ["locationId"]}
    items = httpx.post(f"{base}/onhand/indexquery", json=query, headers=queued_app.headers).json()
    assert {i["productId"]: i["quantities"]["@iv"]["adjustment"] for i in items} == {"Q0": 4, "Q1": 6}

    def sent():
        items = httpx.get(f"{base}/transaction/aggregated", headers=queued_app.headers).json()["items"]
        return items if items and all(i["status"] == "SCMSent" and i["journalId"] for i in items) else None

    journals = {item["journalId"] for item in _wait_for(sent)}
    assert len(journals) == 1, "the environment's lines are collected into one journal by one send message"
