"""A fake Dynamics 365 Finance & Operations OData service for connector tests.

It runs on 127.0.0.1 on a free port in a background thread and behaves like the documented
``<env-url>/data/`` API as far as the journal connector uses it:

- every request needs ``Authorization: Bearer <token>`` with a token the fake issued;
- ``InventoryAdjustmentJournalHeaders`` / ``InventoryMovementJournalHeaders``: POST creates a
  header and assigns ``JournalNumber`` from a number sequence; GET supports ``$filter`` with
  ``eq`` / ``and`` on string literals (OData quoting: ``''`` is one quote, a bare quote is a
  syntax error) and pages with ``@odata.nextLink``; string comparison is case-insensitive
  like SQL Server's collation in D365;
- ``InventoryCountingJournalHeaders`` / ``InventoryCountingJournalLines`` likewise; a counting line
  sets ``CountedQuantity`` (and names the warehouse ``WarehouseId``), and a property of the other
  entities on it (``InventoryQuantity`` ...) is refused as D365 refuses an unknown property;
- ``InventoryAdjustmentJournalEntriesV2`` / ``InventoryMovementJournalEntries``: lines, only
  through ``$batch`` change sets (multipart/mixed), each change set atomic; an unknown or
  rejected item or a duplicate ``LineNumber`` fails the whole change set with an OData error
  body ``{"error": {"code", "message", "innererror": {...}}}``;
- an optional bound action on a header that marks it posted.

Programmable faults: throttle the next N requests (429 + ``Retry-After``), fail the next N
with 5xx, revoke the current tokens (401), reject an item, and lose the response after the
server has committed a header or a change set (drop the connection, or sleep past the
client's timeout and then drop it).

The fake deliberately shares no code with the adapter under test: its multipart parsing uses
the standard ``email`` package so a mistake in the adapter's own encoder shows up here.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

ADJ_HEADERS = "InventoryAdjustmentJournalHeaders"
ADJ_LINES = "InventoryAdjustmentJournalEntriesV2"
MOV_HEADERS = "InventoryMovementJournalHeaders"
MOV_LINES = "InventoryMovementJournalEntries"
CNT_HEADERS = "InventoryCountingJournalHeaders"
CNT_LINES = "InventoryCountingJournalLines"
LINES_TO_HEADERS = {ADJ_LINES: ADJ_HEADERS, MOV_LINES: MOV_HEADERS, CNT_LINES: CNT_HEADERS}
NUMBER_PREFIX = {ADJ_HEADERS: "IAJ", MOV_HEADERS: "IMJ", CNT_HEADERS: "ICJ"}
QUANTITY_PROPERTY = {ADJ_LINES: "InventoryQuantity", MOV_LINES: "InventoryQuantity", CNT_LINES: "CountedQuantity"}
"""The counting line entity has no InventoryQuantity (it sets CountedQuantity) and names the warehouse
``WarehouseId``; the adjustment/movement entities have no CountedQuantity/WarehouseId."""
FOREIGN_PROPERTIES = {
    ADJ_LINES: ("CountedQuantity", "WarehouseId", "CountingDate"),
    MOV_LINES: ("CountedQuantity", "WarehouseId", "CountingDate"),
    CNT_LINES: ("InventoryQuantity", "InventoryWarehouseId", "TransactionDate"),
}
ACTION_NAMESPACE = "Microsoft.Dynamics.DataEntities"
GENERIC_ERROR = "An error has occurred."

LoseMode = Literal["drop", "hang"]


class ODataError(Exception):
    """Raised inside the fake to answer with an OData error body."""

    def __init__(self, status: int, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.inner = inner

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": "", "message": self.message}
        if self.inner is not None:
            error["innererror"] = {
                "message": self.inner,
                "type": "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException",
                "stacktrace": "",
            }
        return {"error": error}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int = 0
    authorization: str | None = None


@dataclass
class _Fault:
    kind: Literal["throttle", "fail"]
    remaining: int
    status: int = 429
    retry_after: str | None = None


@dataclass
class _Loss:
    on: Literal["header_create", "batch", "post"]
    mode: LoseMode
    remaining: int = 1


@dataclass
class FakeD365:
    """State and fault switches of the fake. All access goes through ``lock``."""

    known_items: set[str] | None = None  # None: any item except rejected ones
    page_size: int = 10_000
    post_action: str | None = None
    hang_seconds: float = 1.5
    lock: threading.RLock = field(default_factory=threading.RLock)
    headers: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(
        default_factory=lambda: {ADJ_HEADERS: {}, MOV_HEADERS: {}, CNT_HEADERS: {}}
    )
    lines: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {ADJ_LINES: [], MOV_LINES: [], CNT_LINES: []}
    )
    requests: list[RecordedRequest] = field(default_factory=list)
    rejected_items: dict[str, str] = field(default_factory=dict)
    _tokens: set[str] = field(default_factory=set)
    _token_seq: int = 0
    _number_seq: dict[str, int] = field(default_factory=lambda: {ADJ_HEADERS: 0, MOV_HEADERS: 0, CNT_HEADERS: 0})
    _faults: list[_Fault] = field(default_factory=list)
    _losses: list[_Loss] = field(default_factory=list)
    base_url: str = ""

    # ----- test controls -------------------------------------------------------------------
    def issue_token(self) -> str:
        """Issue a new valid bearer token (what Entra ID would hand the connector)."""
        with self.lock:
            self._token_seq += 1
            token = f"fake-token-{self._token_seq}-{time.monotonic_ns()}"
            self._tokens.add(token)
            return token

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid: the next request gets 401."""
        with self.lock:
            self._tokens.clear()

    def throttle_next(self, count: int, retry_after: str | None = "1") -> None:
        """Answer the next ``count`` requests with 429 and this ``Retry-After`` (None: no header)."""
        with self.lock:
            self._faults.append(_Fault("throttle", count, 429, retry_after))

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with a 5xx."""
        with self.lock:
            self._faults.append(_Fault("fail", count, status))

    def reject_item(self, item_number: str, message: str) -> None:
        """Make any line with this item fail its change set with ``message`` as the ERP's text."""
        with self.lock:
            self.rejected_items[item_number] = message

    def lose_response(self, on: Literal["header_create", "batch", "post"], mode: LoseMode = "drop") -> None:
        """Commit the next such write, then drop the connection (or hang past the client timeout)."""
        with self.lock:
            self._losses.append(_Loss(on, mode))

    # ----- inspection ----------------------------------------------------------------------
    def journals(self, header_set: str = ADJ_HEADERS) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for h in self.headers[header_set].values()]

    def journal_lines(self, line_set: str, data_area: str, number: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                dict(line)
                for line in self.lines[line_set]
                if line["dataAreaId"] == data_area and line["JournalNumber"] == number
            ]

    def count(self, method: str, path_suffix: str, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.method == method and r.path.endswith(path_suffix) and (status is None or r.status == status)
            )

    # ----- internals used by the handler ---------------------------------------------------
    def _take_fault(self) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
            return None

    def _take_loss(self, on: str) -> _Loss | None:
        with self.lock:
            for loss in self._losses:
                if loss.on == on and loss.remaining > 0:
                    loss.remaining -= 1
                    return loss
            return None

    def _token_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self.lock:
            return authorization[len("Bearer ") :] in self._tokens


# ----- $filter: a tiny, strict parser for ``Field eq 'literal' [and ...]`` ----------------------
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>\S))")


def parse_filter(expr: str) -> list[tuple[str, str]]:
    """Return ``[(field, value), ...]`` for an ``and``-chain of ``eq`` comparisons.

    A bare quote inside a literal ends the literal early, so an unescaped ``O'Brien`` turns
    into trailing garbage and is refused, as the real service refuses it.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group("str") is not None:
            tokens.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("word") is not None:
            tokens.append(("word", m.group("word")))
        else:
            raise ODataError(400, f"Syntax error at position {m.start('bad')} in '{expr}'.")
    if expr[pos:].strip():
        raise ODataError(400, f"Syntax error at position {pos} in '{expr}'.")
    out: list[tuple[str, str]] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise ODataError(400, f"Syntax error in '{expr}'.")
        name, op, value = tokens[i], tokens[i + 1], tokens[i + 2]
        if name[0] != "word" or op != ("word", "eq") or value[0] != "str":
            raise ODataError(400, f"Syntax error in '{expr}'.")
        out.append((name[1], value[1]))
        i += 3
        if i == len(tokens):
            return out
        if tokens[i] != ("word", "and"):
            raise ODataError(400, f"Syntax error at token {i} in '{expr}'.")
        i += 1


def _matches(record: dict[str, Any], conditions: list[tuple[str, str]]) -> bool:
    for name, value in conditions:
        actual = record.get(name)
        if not isinstance(actual, str) or actual.casefold() != value.casefold():
            return False
    return True


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return value


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps({k: _to_json(v) for k, v in record.items()}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    # --- plumbing -----------------------------------------------------------------------------
    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        extra: dict | None = None,
    ) -> None:
        self._record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("OData-Version", "4.0")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self, loss: _Loss) -> None:
        """Lose the response: the write is already committed; the client never hears of it."""
        self._record.status = -1
        if loss.mode == "hang":
            time.sleep(self.server.fake.hang_seconds)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        self._record = RecordedRequest(
            method,
            unquote(split.path),
            parse_qs(split.query),
            authorization=self.headers.get("Authorization"),
        )
        with fake.lock:
            fake.requests.append(self._record)
        body = self._read_body()
        fault = fake._take_fault()
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            msg = (
                "Request was blocked due to exceeding usage of resource."
                if fault.status == 429
                else "Service Unavailable"
            )
            self._reply(fault.status, json.dumps(ODataError(fault.status, msg).body()).encode(), extra=extra)
            return
        if not fake._token_ok(self.headers.get("Authorization")):
            self._reply(401, b"", extra={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        try:
            self._route(method, self._record.path, split.query, body)
        except ODataError as err:
            self._reply(err.status, json.dumps(err.body()).encode())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # --- routes -----------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: str, body: bytes) -> None:
        if not path.startswith("/data/"):
            raise ODataError(404, "Not found")
        resource = path[len("/data/") :]
        fake = self.server.fake
        if method == "GET" and resource in fake.headers:
            self._query(resource, fake.headers[resource].values(), query)
        elif method == "GET" and resource in fake.lines:
            self._query(resource, fake.lines[resource], query)
        elif method == "POST" and resource in fake.headers:
            self._create_header(resource, body)
        elif method == "POST" and resource == "$batch":
            self._batch(body)
        elif method == "POST" and "(" in resource:
            self._action(resource)
        else:
            raise ODataError(404, f"Resource not found for the segment '{resource}'.")

    def _query(self, entity_set: str, records: Any, query: str) -> None:
        fake = self.server.fake
        params = parse_qs(query)
        conditions = parse_filter(params["$filter"][0]) if "$filter" in params else []
        skip = int(params.get("$skiptoken", ["0"])[0])
        with fake.lock:
            found = [dict(r) for r in records if _matches(r, conditions)]
        page = found[skip : skip + fake.page_size]
        doc: dict[str, Any] = {
            "@odata.context": f"{fake.base_url}/data/$metadata#{entity_set}",
            "value": [{k: _to_json(v) for k, v in r.items()} for r in page],
        }
        if skip + fake.page_size < len(found):
            next_params = {k: v[0] for k, v in params.items()}
            next_params["$skiptoken"] = str(skip + fake.page_size)
            doc["@odata.nextLink"] = f"{fake.base_url}/data/{entity_set}?{urlencode(next_params)}"
        self._reply(200, json.dumps(doc).encode())

    def _create_header(self, header_set: str, body: bytes) -> None:
        fake = self.server.fake
        try:
            data = json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise ODataError(400, "The request body is not valid JSON.") from exc
        area = data.get("dataAreaId")
        name = data.get("JournalNameId")
        description = data.get("Description") or ""
        if not area or not name:
            raise ODataError(400, GENERIC_ERROR, "Journal name must be filled in.")
        if len(description) > 60:
            raise ODataError(400, GENERIC_ERROR, "The value of field Description is longer than 60 characters.")
        if "JournalNumber" in data:
            raise ODataError(400, GENERIC_ERROR, "Journal number is assigned by the number sequence.")
        with fake.lock:
            fake._number_seq[header_set] += 1
            number = f"{NUMBER_PREFIX[header_set]}-{fake._number_seq[header_set]:06d}"
            record = {
                "dataAreaId": area.lower(),
                "JournalNumber": number,
                "JournalNameId": name,
                "Description": description,
                "IsPosted": "No",
            }
            fake.headers[header_set][(area.lower(), number)] = record
        loss = fake._take_loss("header_create")
        if loss is not None:
            self._drop(loss)
            return
        self._reply(201, _dumps(record))

    def _action(self, resource: str) -> None:
        fake = self.server.fake
        m = re.fullmatch(
            r"(?P<set>\w+)\(dataAreaId='(?P<area>[^']*)',JournalNumber='(?P<num>[^']*)'\)/(?P<action>[\w.]+)",
            resource,
        )
        if m is None or fake.post_action is None or m["action"] != f"{ACTION_NAMESPACE}.{fake.post_action}":
            raise ODataError(404, f"Resource not found for the segment '{resource}'.")
        with fake.lock:
            header = fake.headers.get(m["set"], {}).get((m["area"].lower(), m["num"]))
            if header is None:
                raise ODataError(404, f"Journal {m['num']} does not exist.")
            header["IsPosted"] = "Yes"
        loss = fake._take_loss("post")
        if loss is not None:
            self._drop(loss)
            return
        self._reply(204)

    # --- $batch -----------------------------------------------------------------------------
    def _batch(self, body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/mixed"):
            raise ODataError(400, "A $batch request must be multipart/mixed.")
        message = email.message_from_bytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=email.policy.HTTP
        )
        if not message.is_multipart():
            raise ODataError(400, "The batch body is not a valid multipart message.")
        out_parts: list[bytes] = []
        committed = False
        for part in message.iter_parts():
            if part.get_content_type() != "multipart/mixed":
                raise ODataError(400, "This fake only accepts change sets inside $batch.")
            ok, rendered = self._changeset(part)
            committed = committed or ok
            out_parts.append(rendered)
        if committed:
            loss = self.server.fake._take_loss("batch")
            if loss is not None:
                self._drop(loss)
                return
        boundary = "batchresponse_fake"
        payload = b"".join(b"--" + boundary.encode() + b"\r\n" + p for p in out_parts)
        payload += b"--" + boundary.encode() + b"--\r\n"
        self._reply(200, payload, content_type=f"multipart/mixed; boundary={boundary}")

    def _changeset(self, part: email.message.Message) -> tuple[bool, bytes]:
        """Validate every operation first, then apply all of them or none (atomic change set)."""
        fake = self.server.fake
        ops: list[tuple[str, str, dict[str, Any]]] = []
        for sub in part.iter_parts():
            if sub.get_content_type() != "application/http":
                return False, _error_part(None, ODataError(400, "Change set parts must be application/http."))
            raw = sub.get_payload(decode=True) or b""
            head, _, req_body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
            lines = head.decode().split("\n")
            request_line = lines[0].split(" ")
            inner_headers = dict(h.split(":", 1) for h in lines[1:] if ":" in h)
            content_id = sub.get("Content-ID") or inner_headers.get("Content-ID", "").strip() or None
            if len(request_line) != 3 or request_line[0] != "POST":
                return False, _error_part(content_id, ODataError(400, "Only POST is supported in change sets."))
            target = unquote(urlsplit(request_line[1]).path).rstrip("/").split("/")[-1]
            try:
                data = json.loads(req_body.decode(), parse_float=Decimal)
            except ValueError:
                return False, _error_part(content_id, ODataError(400, "The request body is not valid JSON."))
            ops.append((content_id or "", target, data))
        with fake.lock:
            pending: set[tuple[str, str, str, Decimal]] = set()
            for content_id, target, data in ops:
                error = self._validate_line(target, data, pending)
                if error is not None:
                    return False, _error_part(content_id or None, error)
            responses = []
            for content_id, target, data in ops:
                record = dict(data)
                record["dataAreaId"] = str(record["dataAreaId"]).lower()
                fake.lines[target].append(record)
                responses.append((content_id, record))
        boundary = "changesetresponse_fake"
        body = b""
        for content_id, record in responses:
            inner = b"HTTP/1.1 201 Created\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n"
            body += (
                b"--" + boundary.encode() + b"\r\nContent-Type: application/http\r\n"
                b"Content-Transfer-Encoding: binary\r\nContent-ID: "
                + content_id.encode()
                + b"\r\n\r\n"
                + inner
                + _dumps(record)
                + b"\r\n"
            )
        body += b"--" + boundary.encode() + b"--\r\n"
        return True, (f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n").encode() + body + b"\r\n"

    def _validate_line(
        self, target: str, data: dict[str, Any], pending: set[tuple[str, str, str, Decimal]]
    ) -> ODataError | None:
        fake = self.server.fake
        if target not in LINES_TO_HEADERS:
            return ODataError(404, f"Resource not found for the segment '{target}'.")
        area = str(data.get("dataAreaId", "")).lower()
        number = data.get("JournalNumber")
        item = data.get("ItemNumber")
        line_number = data.get("LineNumber")
        quantity_name = QUANTITY_PROPERTY[target]
        quantity = data.get(quantity_name)
        foreign = [name for name in FOREIGN_PROPERTIES[target] if name in data]
        if foreign:
            return ODataError(
                400, f"The property '{foreign[0]}' does not exist on type 'Microsoft.Dynamics.DataEntity.{target}'."
            )
        if (area, number) not in fake.headers[LINES_TO_HEADERS[target]]:
            return ODataError(400, GENERIC_ERROR, f"Journal {number} does not exist in company {area}.")
        if item in fake.rejected_items:
            return ODataError(400, GENERIC_ERROR, fake.rejected_items[item])
        if fake.known_items is not None and item not in fake.known_items:
            return ODataError(400, GENERIC_ERROR, f"Item number {item} does not exist.")
        if not isinstance(quantity, (int, Decimal)) or isinstance(quantity, bool):
            return ODataError(400, GENERIC_ERROR, f"{quantity_name} must be a number.")
        if not isinstance(line_number, (int, Decimal)) or isinstance(line_number, bool):
            return ODataError(400, GENERIC_ERROR, "LineNumber must be a number.")
        key = (target, area, str(number), Decimal(line_number))
        existing = {
            (target, str(r["dataAreaId"]), str(r["JournalNumber"]), Decimal(r["LineNumber"]))
            for r in fake.lines[target]
        }
        if key in existing or key in pending:
            return ODataError(
                400,
                GENERIC_ERROR,
                f"Cannot create a record in Journal lines. Line number {line_number} exists.",
            )
        pending.add(key)
        return None


def _error_part(content_id: str | None, error: ODataError) -> bytes:
    """A failed change set is answered by one error response in its place (OData 4.0 §11.7)."""
    cid = f"Content-ID: {content_id}\r\n" if content_id else ""
    inner = (
        f"HTTP/1.1 {error.status} Bad Request\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n"
    ).encode() + json.dumps(error.body()).encode()
    return (
        b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        + cid.encode()
        + b"\r\n"
        + inner
        + b"\r\n"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeD365


@contextlib.contextmanager
def running_fake_d365(**options: Any) -> Iterator[FakeD365]:
    """Start the fake on 127.0.0.1 on a free port; yield its state; stop it afterwards.

    ``options`` are ``FakeD365`` fields (``known_items``, ``page_size``, ``post_action``,
    ``hang_seconds``). The environment URL is ``fake.base_url``.
    """
    fake = FakeD365(**options)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    host, port = server.server_address[:2]
    fake.base_url = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-d365", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
