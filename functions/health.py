"""GET /api/health — anonymous liveness and storage reachability."""

from __future__ import annotations

import azure.functions as func

from functions.http_responses import STORAGE_RETRY_AFTER_S, model_response
from shared.adapters.storage_probes import storage_probes
from shared.domain.api_models import Health
from shared.services.health import check_health

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = check_health(storage_probes())
    return model_response(
        Health,
        report.as_dict(),
        200 if report.ok else 503,
        None if report.ok else {"Retry-After": str(STORAGE_RETRY_AFTER_S)},
    )
