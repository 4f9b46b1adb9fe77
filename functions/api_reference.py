"""The OpenAPI 3.1 document of the HTTP API, built from what the app registered and from the pydantic models.

Paths and methods come from the app's own registrations (`function_app.app`), so a route cannot be
missing from the document; what each route takes and answers comes from `OPERATIONS` below, which names
pydantic models only: their JSON schemas (pydantic's generator, OpenAPI 3.1 is JSON Schema 2020-12) become
`components.schemas`. Request examples are the files of `samples/`, the same bodies the README posts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from azure.functions.decorators.http import HttpTrigger
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.journals import AggregatedFilters
from functions.level_sync import PageQuery as LevelPageQuery
from shared.domain import api_models as m
from shared.domain.adjustments import AdjustmentLine
from shared.domain.identifiers import ENVIRONMENT_ID, KEY_TEXT
from shared.domain.inventory_config import InventoryConfig
from shared.services.queries import IndexQuery, LineFilters

ROUTE_PREFIX = "/api"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
_PARAM = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")


@dataclass(frozen=True)
class Operation:
    """What one registered HTTP function takes and answers; models only, never a hand-written schema."""

    summary: str
    tag: str
    answers: dict[int, tuple[str, type[BaseModel] | None]]
    body: type[BaseModel] | None = None
    body_is_array: bool = False
    query: type[BaseModel] | None = None
    extra_query: dict[str, tuple[str, type[BaseModel] | None]] = field(default_factory=dict)
    sample: str | None = None
    """A file of samples/ shown as the request example; `first:` takes the first item of an array file."""
    answers_list_of: bool = False
    notice_header: bool = False
    """The 200 may carry `Omnisync-Notice` (an environment nothing was ever posted to)."""


ADJ, ONHAND, CONFIG, ERP, JOURNALS, RECON, LEVELS, SYSTEM = (
    "Adjustments",
    "On-hand",
    "Configuration",
    "ERP transactions",
    "Aggregated lines (journals)",
    "Reconciliation",
    "Level sync",
    "System",
)

OPERATIONS: dict[str, Operation] = {
    "health": Operation(
        "Liveness and storage reachability",
        SYSTEM,
        {200: ("healthy", m.Health), 503: ("storage is not answering (see `Retry-After`)", m.Health)},
    ),
    "post_adjustments": Operation(
        "Store adjustment lines (one bad line refuses the whole request)",
        ADJ,
        {200: ("one outcome per line", m.LineOutcomes), 207: ("some lines conflict", m.LineOutcomes)},
        body=AdjustmentLine,
        body_is_array=True,
        extra_query={"createWithIVSync": ("true: every line goes to the cache now", None)},
        sample="adjustments.json",
    ),
    "get_adjustments_bulk": Operation("Not a line id: answers 405 (use POST)", ADJ, {405: ("POST only", m.ErrorBody)}),
    "list_adjustments": Operation(
        "List detailed lines (filters, paging)", ADJ, {200: ("a page of lines", m.DetailedLinePage)}, query=LineFilters
    ),
    "get_adjustment": Operation("One detailed line", ADJ, {200: ("the line", m.DetailedLine)}),
    "post_onhand": Operation(
        "Apply one on-hand change event",
        ONHAND,
        {200: ("its outcome", m.ItemOutcome), 409: ("same id, other content", m.ItemOutcome)},
        body=m.OnHandEventIn,
        sample="first:onhand_events.json",
    ),
    "post_onhand_bulk": Operation(
        "Apply on-hand change events",
        ONHAND,
        {200: ("one outcome per event", m.EventOutcomes), 207: ("some events conflict", m.EventOutcomes)},
        body=m.OnHandEventIn,
        body_is_array=True,
        sample="onhand_events.json",
    ),
    "set_onhand_bulk": Operation(
        "Overwrite one data source's on-hand (counting results)",
        ONHAND,
        {200: ("one outcome per event", m.EventOutcomes), 207: ("some events conflict", m.EventOutcomes)},
        body=m.OnHandEventIn,
        body_is_array=True,
    ),
    "onhand_index_query": Operation(
        "On-hand summed per product and groupByValues",
        ONHAND,
        {200: ("one row per group", m.OnHandRow)},
        body=IndexQuery,
        answers_list_of=True,
        notice_header=True,
    ),
    "onhand_exact_query": Operation(
        "On-hand of exact dimension combinations",
        ONHAND,
        {200: ("one row per group", m.OnHandRow)},
        body=m.ExactQueryIn,
        answers_list_of=True,
        notice_header=True,
    ),
    "get_configuration": Operation(
        "The environment's inventory configuration (or the default)", CONFIG, {200: ("in force", m.ConfigurationView)}
    ),
    "put_configuration": Operation(
        "Replace the configuration (refused whole, with every reason)",
        CONFIG,
        {200: ("now in force", m.ConfigurationView)},
        body=InventoryConfig,
        sample="configuration.json",
    ),
    "reset_configuration": Operation("Go back to the default configuration", CONFIG, {204: ("removed", None)}),
    "post_erp_transactions": Operation(
        "ERP transactions made outside omnisync: offset once",
        ERP,
        {200: ("one outcome each", m.TransactionOutcomes), 207: ("some conflict", m.TransactionOutcomes)},
        body=m.ErpTransactionIn,
        body_is_array=True,
        sample="erp_transactions.json",
    ),
    "get_erp_transaction": Operation("One ERP transaction", ERP, {200: ("the transaction", m.ErpTransactionView)}),
    "list_aggregated": Operation(
        "List aggregated lines", JOURNALS, {200: ("a page", m.AggregatedLinePage)}, query=AggregatedFilters
    ),
    "get_aggregated": Operation("One aggregated line", JOURNALS, {200: ("the line", m.AggregatedLine)}),
    "retry_aggregated": Operation(
        "Send a line the ERP did not create again",
        JOURNALS,
        {202: ("queued for sending", m.RetryAccepted), 409: ("the ERP created it already", m.ErrorBody)},
    ),
    "get_reconciliation": Operation(
        "A reconciliation run: summary and report files", RECON, {200: ("the run", m.ReconciliationRun)}
    ),
    "approve_reconciliation": Operation(
        "Move the non-master side by the approved proposed lines",
        RECON,
        {
            200: ("what was posted or written", m.ApprovalResult),
            202: ("`background`: the queued job (or the one already asked for)", m.ApprovalJob),
        },
        body=m.ApprovalIn,
    ),
    "list_background_approvals": Operation(
        "The run's background approvals, newest first", RECON, {200: ("the jobs", m.ApprovalJobs)}
    ),
    "get_background_approval": Operation("How far a background approval got", RECON, {200: ("the job", m.ApprovalJob)}),
    "list_proposed_lines": Operation(
        "A page of the run's proposed lines, in journal order",
        RECON,
        {200: ("a page of lines", m.ProposedPage)},
        query=m.ProposedPageQuery,
    ),
    "list_reconciliations": Operation(
        "The environment's reconciliation runs, newest run time first",
        RECON,
        {200: ("a page of runs", m.RunList)},
        query=m.RunListQuery,
    ),
    "get_reconciliation_report": Operation(
        "One report file of a run (summary.json, report.html, differences.csv, report.xlsx, …)",
        RECON,
        {
            200: ("the file, with its content type", None),
            413: ("bigger than `REPORT_INLINE_MAX_BYTES`: use its read link (…/link)", m.ErrorBody),
        },
    ),
    "get_reconciliation_report_link": Operation(
        "A short-lived read link to one report file in storage (for files too big to answer inline)",
        RECON,
        {200: ("the link and what to check the download against", m.ReportLink)},
    ),
    "list_reconciliation_outbox": Operation(
        "Files an ERP-master approval wrote for the external system", RECON, {200: ("the files", m.OutboxFiles)}
    ),
    "get_reconciliation_outbox_file": Operation(
        "One file for the external system (JSON or CSV)", RECON, {200: ("the file", None)}
    ),
    "list_level_targets": Operation(
        "The environment's level-sync targets", LEVELS, {200: ("the targets", m.LevelTargets)}
    ),
    "level_sent": Operation(
        "What a target was last sent, per product × warehouse",
        LEVELS,
        {200: ("a page", m.LevelSentPage)},
        query=LevelPageQuery,
    ),
    "level_pending": Operation(
        "Delta batches of a target not yet confirmed", LEVELS, {200: ("a page", m.LevelBatchPage)}, query=LevelPageQuery
    ),
    "level_failures": Operation(
        "Delta batches a target refused or did not answer for (attempts, last error, next retry)",
        LEVELS,
        {200: ("a page", m.LevelBatchPage)},
        query=LevelPageQuery,
    ),
    "openapi_document": Operation("This document", SYSTEM, {200: ("OpenAPI 3.1", None)}),
    "api_docs_page": Operation("The browsable API reference (Swagger UI)", SYSTEM, {200: ("an HTML page", None)}),
    "api_docs_asset": Operation("A file of the API reference page", SYSTEM, {200: ("a static file", None)}),
    "console": Operation("A file of the web console (static, no data)", SYSTEM, {200: ("a static file", None)}),
}

PATH_PATTERNS = {
    "environmentId": ENVIRONMENT_ID.pattern,
    "id": KEY_TEXT.pattern,
    "dataSource": KEY_TEXT.pattern,
    "runId": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "file": r"^[A-Za-z0-9._-]{1,64}$",
}
"""What each path parameter may hold (the checks of functions/http_input.py and the reconciliation run id)."""


@dataclass(frozen=True)
class HttpRoute:
    name: str
    route: str
    methods: tuple[str, ...]
    anonymous: bool


def registered_routes() -> list[HttpRoute]:
    """Every HTTP function the app registers, read from the app's own registrations (no second list).

    `FunctionApp.get_functions()` may run only once (the host calls it), so the builders are read instead.
    """
    import function_app

    routes = []
    for builder in function_app.app._function_builders:
        function = builder._function
        trigger = function.get_trigger()
        if not isinstance(trigger, HttpTrigger):
            continue
        declared: list[Any] = list(trigger.methods or ())
        methods = tuple(str(getattr(x, "value", x)).upper() for x in declared) or ("GET", "POST")
        # Every route is anonymous at the host; the ones the app checks itself carry `_authorized`
        # (functions/auth_guard.py), and only routes that declared ANONYMOUS are public.
        checked = getattr(function.get_user_function(), "_authorized", False)
        level = str(getattr(trigger.auth_level, "value", trigger.auth_level) or "function").lower()
        name = function.get_function_name()
        routes.append(
            HttpRoute(name, (trigger.route or name).strip("/"), methods, level == "anonymous" and not checked)
        )
    return routes


def path_parameters(route: str) -> list[str]:
    return _PARAM.findall(route)


def openapi_path(route: str) -> str:
    """A Functions route template as an OpenAPI path: `{*rest}` and `{id:int}` become `{rest}` and `{id}`."""
    return f"{ROUTE_PREFIX}/" + _PARAM.sub(lambda match: "{" + match.group(1) + "}", route)


def _undocumented(route: HttpRoute) -> Operation:
    """A route registered without an OPERATIONS entry is still listed (tests/unit/test_openapi_document.py fails
    until it gets one), so the document never breaks because a route was added elsewhere."""
    return Operation(f"{route.name} (not described yet)", SYSTEM, {200: ("an answer", None)})


def _sample(spec: str | None, model: type[BaseModel] | None) -> Any:
    """A samples/ file as the example; field names in the model's spelling (the API takes any casing)."""
    if spec is None or model is None:
        return None
    first = spec.startswith("first:")
    path = SAMPLES / spec.removeprefix("first:")
    if not path.is_file():  # a deployment without samples/ still serves the document
        return None
    value = json.loads(path.read_text(encoding="utf-8"))
    names = {name.lower(): name for name in model.model_fields}

    def canonical(item: Any) -> Any:
        return {names.get(k.lower(), k): v for k, v in item.items()} if isinstance(item, dict) else item

    value = [canonical(item) for item in value] if isinstance(value, list) else canonical(value)
    return value[0] if first else value


_ERRORS = {
    400: "refused: what is wrong is in `error.details`",
    401: "no or wrong key or token (see `WWW-Authenticate`)",
    403: "a valid caller that is not granted this environment",
    404: "unknown route or item",
    405: "wrong method (see `Allow`)",
    413: "body too large or too many items",
    415: "the body is not application/json",
    500: "a bug: the reason goes to the log only",
    503: "storage is not answering (see `Retry-After`)",
}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document; built once per process (the registrations do not change while it runs)."""
    routes = registered_routes()
    Mode = tuple[Any, Literal["validation", "serialization"]]
    bodies: list[Mode] = [(op.body, "validation") for op in OPERATIONS.values() if op.body]
    answers: list[Mode] = [
        (model, "serialization") for op in OPERATIONS.values() for _, model in op.answers.values() if model is not None
    ]
    queries: list[Mode] = [(op.query, "validation") for op in OPERATIONS.values() if op.query]
    wanted: list[Mode] = list(dict.fromkeys([*bodies, *answers, *queries, (m.ErrorBody, "serialization")]))
    refs, schemas = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    error_ref = refs[(m.ErrorBody, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op = OPERATIONS.get(route.name) or _undocumented(route)
        item = paths.setdefault(openapi_path(route.route), {})
        for method in route.methods:
            item[method.lower()] = _operation(route, method, op, refs, schemas["$defs"], error_ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "omnisync API",
            "version": _version(),
            "description": "Inventory adjustments, on-hand, configuration, ERP journals and reconciliation. "
            "Every error has the shape `{error: {code, message, details?}}`; quantities are JSON numbers "
            "(exact decimals) and requests accept numbers or numeric strings.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in (ADJ, ONHAND, CONFIG, ERP, JOURNALS, RECON, SYSTEM)],
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
                "entraId": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a Microsoft Entra ID access token whose app roles grant the environment",
                },
            },
        },
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"entraId": []}],
    }


def _version() -> str:
    from shared import __version__

    return __version__


def _operation(
    route: HttpRoute,
    method: str,
    op: Operation,
    refs: dict[Any, Any],
    defs: dict[str, Any],
    error_ref: dict[str, Any],
) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for name in path_parameters(route.route):
        schema: dict[str, Any] = {"type": "string"}
        if name in PATH_PATTERNS:
            schema["pattern"] = PATH_PATTERNS[name]
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        query_schema = defs[refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[-1]]
        required = set(query_schema.get("required", []))
        for name, prop in query_schema["properties"].items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    for name, (description, _) in op.extra_query.items():
        params.append(
            {
                "name": name,
                "in": "query",
                "description": description,
                "schema": {"type": "string", "enum": ["true", "false"]},
            }
        )
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": {},
    }
    if route.anonymous:
        operation["security"] = []
    if op.body is not None:
        item_schema = refs[(op.body, "validation")]
        schema = {"type": "array", "minItems": 1, "items": item_schema} if op.body_is_array else item_schema
        content: dict[str, Any] = {"schema": schema}
        example = _sample(op.sample, op.body)
        if example is not None:
            content["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": content}}
    for status, (description, model) in sorted(op.answers.items()):
        answer: dict[str, Any] = {"description": description}
        if model is not None:
            schema = refs[(model, "serialization")]
            if op.answers_list_of and status < 300:
                schema = {"type": "array", "items": schema}
            answer["content"] = {"application/json": {"schema": schema}}
        if op.notice_header and status == 200:
            answer["headers"] = {
                "Omnisync-Notice": {
                    "description": "only for an environment nothing was ever posted to: says so",
                    "schema": {"type": "string"},
                }
            }
        operation["responses"][str(status)] = answer
    errors = [400, 404, 405, 500, 503]
    if not route.anonymous:
        errors += [401, 403]
    if op.body is not None:
        errors += [413, 415]
    for status in sorted(errors):
        operation["responses"].setdefault(
            str(status), {"description": _ERRORS[status], "content": {"application/json": {"schema": error_ref}}}
        )
    return operation
