"""Requests for calling a function in-process, as the host would pass them: with the test's API key.

Every keyed route checks its caller (functions/auth_guard.py) once the app's blueprints are collected, so an
in-process call carries the key the test settings grant (`LOCAL_FUNCTION_KEY`, set in tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

TEST_KEY = "in-process-test-key"


def app_request(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    keyed: dict[str, Any] = {"x-functions-key": TEST_KEY, **(headers or {})}
    return func.HttpRequest(method, url, body=body, headers=keyed, route_params=route_params, params=params)
