"""Dynamics 365 Finance & Operations connector: journals over OData v4.

How one ``send`` works, and why:

1. **Look up first.** Our own ``journal_id`` is stored in the header's ``Description`` and we
   query ``<Headers>?$filter=Description eq '<id>' and dataAreaId eq '<org>'`` before creating
   anything. If the ERP accepted an earlier create and the answer was lost, we find that
   journal instead of creating a second one (at most once into the ERP).
2. **Create the header** (``InventoryAdjustmentJournalHeaders`` or
   ``InventoryMovementJournalHeaders``); D365 assigns ``JournalNumber`` from its number
   sequence.
3. **Read the journal's existing lines** and send only the missing ones. ``LineNumber`` is
   assigned from the line's position in ``Journal.lines`` (1, 2, 3, ...), so a line that was
   committed before a lost answer is recognised by its number and never sent twice.
4. **Send lines in ``$batch`` requests**, one change set per chunk (default 100 lines). A
   change set is atomic in the ERP, so a rejected line rolls back its chunk only; other
   chunks still go in, and the outcome names the failing line with the ERP's own message.
5. **Posting (target status ``Posted``).** D365 publishes no standard OData action that
   posts inventory adjustment or movement journals. Posting is therefore a pluggable step:
   give ``post_action`` the name of a bound action your ERP team exposes on the header
   entity (called as ``<Headers>(dataAreaId='..',JournalNumber='..')/
   Microsoft.Dynamics.DataEntities.<post_action>``). Without one the outcome is
   ``created`` with a message saying posting is left to the ERP (a batch job or a person),
   and a later send of the same journal reports ``posted`` once the header's ``IsPosted``
   is ``Yes``.

HTTP goes through an azure-core ``PipelineClient`` (the pipeline the Azure SDKs use):
``BearerTokenCredentialPolicy`` gets, caches and renews the Entra ID token from any
``azure.core.credentials.TokenCredential`` (azure-identity's credentials), and a ``RetryPolicy``
waits out 429s for ``Retry-After`` (seconds or an HTTP date). Only 429 is retried inside the
pipeline, because a throttled request was not processed. 401 renews the token once (the policy
drops a refused token; the request is sent once more). 5xx / timeouts / dropped connections are
*not* retried in the pipeline: they restart the whole look-up-then-create procedure with
exponential backoff (restarting, not blindly re-POSTing, is what keeps a retry from duplicating a
journal). Transport failures never escape as exceptions; when retries run out the outcome has
``retryable=True``. Tokens and secrets are never logged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, HTTPPolicy, RetryPolicy
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.journals import (
    MAX_JOURNAL_ID_LENGTH,
    Journal,
    JournalLine,
    JournalOutcome,
    JournalState,
    JournalType,
    LineResult,
)
from shared.telemetry import erp_call, set_http_status

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2_000
ACTION_NAMESPACE = "Microsoft.Dynamics.DataEntities"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
"""Hosts reachable over plain HTTP (a fake ERP in tests); every other ERP URL must be HTTPS."""


@dataclass(frozen=True)
class EntitySets:
    """Public collection names of one journal type's header and line entities, and the line
    properties that differ between them (a counting line *sets* ``CountedQuantity``; an
    adjustment or movement line carries the delta in ``InventoryQuantity``)."""

    header: str
    lines: str
    quantity: str = "InventoryQuantity"
    warehouse: str = "InventoryWarehouseId"
    date: str = "TransactionDate"


DEFAULT_ENTITY_SETS: Mapping[JournalType, EntitySets] = {
    "adjustment": EntitySets("InventoryAdjustmentJournalHeaders", "InventoryAdjustmentJournalEntriesV2"),
    "movement": EntitySets("InventoryMovementJournalHeaders", "InventoryMovementJournalEntries"),
    # Inventory counting journal entities (InventInventoryCountingJournalHeaderEntity /
    # InventInventoryCountingJournalLineEntity): the line sets the counted quantity; D365 computes
    # the adjustment against its own on-hand when the journal is posted.
    "counting": EntitySets(
        "InventoryCountingJournalHeaders",
        "InventoryCountingJournalLines",
        quantity="CountedQuantity",
        warehouse="WarehouseId",
        date="CountingDate",
    ),
}

# JournalLine attribute -> OData property of the journal line entities (same names in both).
_LINE_FIELDS: tuple[tuple[str, str], ...] = (
    ("site_id", "InventorySiteId"),
    ("warehouse_id", "InventoryWarehouseId"),
    ("color_id", "ProductColorId"),
    ("size_id", "ProductSizeId"),
    ("style_id", "ProductStyleId"),
    ("config_id", "ProductConfigurationId"),
    ("batch_id", "ItemBatchNumber"),
    ("serial_id", "ItemSerialNumber"),
    ("status_id", "InventoryStatusId"),
    ("location_id", "WarehouseLocationId"),
    ("license_plate_id", "LicensePlateNumber"),
)


def odata_string(value: str) -> str:
    """An OData string literal: single-quoted, each quote doubled (OData ABNF ``SQUOTE-in-string``)."""
    return "'" + value.replace("'", "''") + "'"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _trim(text: str) -> str:
    return text[:MAX_MESSAGE_CHARS]


def odata_error_text(body: bytes | str) -> str:
    """The ERP's own error text from an OData error body, verbatim.

    D365 often puts a generic ``message`` ("An error has occurred.") and the real reason in
    ``innererror.message``; both are kept, in that order, when they differ.
    """
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw.strip()
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return raw.strip()
    texts: list[str] = []
    for candidate in (error.get("message"), (error.get("innererror") or {}).get("message")):
        if isinstance(candidate, str) and candidate.strip() and candidate not in texts:
            texts.append(candidate)
    return "\n".join(texts) if texts else raw.strip()


def _json_value(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite decimal: {value}")
        return format(value, "f")  # exact; json.dumps would need a float
    return json.dumps(value)


def encode_json(record: Mapping[str, Any]) -> bytes:
    """Serialise a flat record, writing Decimals as exact JSON numbers (never via float)."""
    return ("{" + ",".join(f"{json.dumps(k)}:{_json_value(v)}" for k, v in record.items()) + "}").encode()


def _decode_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body. Anything else (an HTML page from a proxy, a cut-off body)
    means we cannot know what happened, so it is treated like a transport failure."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Transient(f"unreadable response body ({type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise _Transient("response body is not a JSON object")
    return doc


# ----- multipart (OData $batch) ---------------------------------------------------------------
@dataclass(frozen=True)
class BatchResponse:
    content_id: str | None
    status: int
    headers: Mapping[str, str]
    body: bytes


def _boundary(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip('"')
    return None


def _split_headers(block: bytes) -> tuple[dict[str, str], bytes]:
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = block.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, body


def _multipart_parts(body: bytes, boundary: str) -> Iterator[bytes]:
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            return
        yield chunk.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\r\n").removesuffix(b"\n")


def parse_batch_response(body: bytes, content_type: str) -> list[BatchResponse]:
    """Flatten a multipart/mixed ``$batch`` response into its application/http responses."""
    boundary = _boundary(content_type)
    if boundary is None:
        raise ValueError("batch response without a multipart boundary")
    out: list[BatchResponse] = []
    for part in _multipart_parts(body, boundary):
        mime_headers, payload = _split_headers(part)
        part_type = mime_headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            out.extend(parse_batch_response(payload, part_type))
            continue
        status_line, _, rest = payload.partition(b"\n")
        http_headers, http_body = _split_headers(rest)
        fields = status_line.decode("latin-1").split()
        status = int(fields[1]) if len(fields) >= 2 and fields[1].isdigit() else 0
        content_id = mime_headers.get("content-id") or http_headers.get("content-id")
        out.append(BatchResponse(content_id, status, http_headers, http_body.strip()))
    return out


# ----- internal control flow ------------------------------------------------------------------
class _Transient(Exception):
    """The ERP may or may not have done it (5xx, timeout, dropped connection): look again."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _OutOfRetries(Exception):
    """Throttling or waiting that cannot be finished within this call."""


class _Rejected(Exception):
    """The ERP answered with a definite refusal; retrying the same request will not help."""


# ----- the HTTP pipeline ----------------------------------------------------------------------
class ThrottleRetryPolicy(RetryPolicy):
    """azure-core's retry policy, narrowed to what is safe to repeat blindly: HTTP 429.

    A throttled request was not processed, so even a POST may go again. The wait is the
    ``Retry-After`` header (seconds or an HTTP date, read against the injected clock), else
    exponential backoff; a wait longer than ``max_wait_s`` is not waited here (the outcome is
    retryable later). Transport errors and 5xx are not retried here (see the module docstring).
    """

    def __init__(
        self,
        *,
        max_retries: int,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
        backoff: Callable[[int], float],
        max_wait_s: float,
    ) -> None:
        super().__init__(retry_total=max_retries, retry_status=max_retries, retry_connect=0, retry_read=0)
        self._sleep_for = sleep
        self._now = now
        self._backoff = backoff
        self._max_wait_s = max_wait_s

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        if response.http_response.status_code != 429:
            return False
        return self._delay(response, attempt=len(settings["history"])) <= self._max_wait_s

    def sleep(
        self, settings: dict[str, Any], transport: Any, response: PipelineResponse[Any, Any] | None = None
    ) -> None:
        # Called after the attempt was counted: the first retry has one entry in the history.
        self._sleep_for(self._delay(response, attempt=len(settings["history"]) - 1))

    def _delay(self, response: PipelineResponse[Any, Any] | None, *, attempt: int) -> float:
        header = response.http_response.headers.get("Retry-After") if response is not None else None
        delay = parse_retry_after(header, self._now())
        return delay if delay is not None else self._backoff(attempt)


class ErpDependencyPolicy(HTTPPolicy[Any, Any]):
    """Each HTTP attempt to the ERP as an OpenTelemetry client span (an Application Insights dependency)."""

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        with erp_call(request.http_request.method, request.http_request.url) as span:
            response = self.next.send(request)
            set_http_status(span, response.http_response.status_code)
            return response


@dataclass
class _Progress:
    journal_number: str | None = None
    stage: str = "create"
    lines: dict[str, LineResult] = field(default_factory=dict)


class ODataErpConnector:
    """``ErpConnector`` for D365 F&O OData. See the module docstring for the protocol."""

    def __init__(
        self,
        base_url: str,
        credential: TokenCredential,
        *,
        scope: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = 100,
        post_action: str | None = None,
        entity_sets: Mapping[JournalType, EntitySets] = DEFAULT_ENTITY_SETS,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_retry_after_s: float = 300.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        """``credential``: any azure-core ``TokenCredential``; ``scope`` defaults to ``<base_url>/.default``.
        ``sleep`` and ``now`` are injectable so tests need not wait; ``transport`` defaults to
        azure-core's requests transport (keep-alive, no redirects)."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self._root = base_url.rstrip("/") + "/data/"
        self._origin = urlsplit(self._root)
        self._timeout = timeout
        self._max_retries = max_retries
        self._sleep = sleep
        self._chunk_size = chunk_size
        self._post_action = post_action
        self._entity_sets = entity_sets
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._max_retry_after = max_retry_after_s
        self._now = now
        # Plain HTTP only to a loopback fake; the token policy refuses http:// anywhere else.
        self._plain_http_ok = self._origin.scheme == "http" and self._origin.hostname in LOOPBACK_HOSTS
        self._owns_transport = transport is None
        policies: list[Any] = [
            HeadersPolicy(
                base_headers={"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
            ),
            ThrottleRetryPolicy(
                max_retries=max_retries,
                sleep=sleep,
                now=now,
                backoff=self._backoff,
                max_wait_s=max_retry_after_s,
            ),
            BearerTokenCredentialPolicy(credential, scope or base_url.rstrip("/") + "/.default"),
            ErpDependencyPolicy(),
        ]
        self._client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url=self._root, policies=policies, transport=transport or RequestsTransport()
        )

    def close(self) -> None:
        if self._owns_transport:
            self._client.close()

    def __enter__(self) -> ODataErpConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the port ---------------------------------------------------------------------------
    def send(self, journal: Journal) -> JournalOutcome:
        """Create (and optionally post) ``journal`` at most once; never raises for ERP failures."""
        if not journal.journal_id or len(journal.journal_id) > MAX_JOURNAL_ID_LENGTH:
            return self._outcome(
                journal,
                _Progress(),
                "create_error",
                f"journal_id must be 1..{MAX_JOURNAL_ID_LENGTH} characters to be stored in the "
                "header Description (it is how a lost answer is recovered)",
            )
        if not journal.lines:
            return self._outcome(journal, _Progress(), "create_error", "journal has no lines")
        progress = _Progress()
        attempt = 0
        while True:
            try:
                return self._send_once(journal, progress)
            except _Transient as exc:
                if attempt >= self._max_retries:
                    logger.warning("journal %s: giving up after %d retries", journal.journal_id, attempt)
                    return self._failed(journal, progress, f"{exc} (retries exhausted)", retryable=True)
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                if delay > self._max_retry_after:
                    return self._failed(journal, progress, f"{exc} (asked to wait {delay:g}s)", retryable=True)
                attempt += 1
                logger.info(
                    "journal %s: transient failure (%s); retry %d in %.3gs",
                    journal.journal_id,
                    exc,
                    attempt,
                    delay,
                )
                self._sleep(delay)
            except _OutOfRetries as exc:
                return self._failed(journal, progress, str(exc), retryable=True)
            except _Rejected as exc:
                return self._failed(journal, progress, str(exc), retryable=False)

    # ----- one pass of look-up, create, complete, post ----------------------------------------
    def _send_once(self, journal: Journal, progress: _Progress) -> JournalOutcome:
        sets = self._entity_sets[journal.journal_type]
        progress.stage = "create"
        header = self._find_header(journal, sets)
        if header is None:
            header = self._create_header(journal, sets)
        else:
            logger.info("journal %s: found in ERP as %s", journal.journal_id, header.get("JournalNumber"))
        if not header.get("JournalNumber"):
            raise _Rejected(f"ERP journal header for {journal.journal_id} has no JournalNumber")
        number = str(header["JournalNumber"])
        progress.journal_number = number
        posted = str(header.get("IsPosted", "")).lower() in {"yes", "true"}

        existing = self._existing_lines(journal, sets, number)
        missing: list[tuple[int, JournalLine]] = []
        for position, line in enumerate(journal.lines, start=1):
            record = existing.get(Decimal(position))
            if record is None:
                missing.append((position, line))
                continue
            if (
                str(record.get("ItemNumber")) != line.item_number
                or _decimal(record.get(sets.quantity)) != line.quantity
            ):
                raise _Rejected(
                    f"ERP journal {number} line {position} holds item {record.get('ItemNumber')} "
                    f"quantity {record.get(sets.quantity)}, not {line.item_number} {line.quantity}; "
                    "the journal was changed outside omnisync"
                )
            progress.lines[line.line_id] = LineResult(line.line_id, erp_line_number=str(position))

        if posted and missing:
            # A posted journal cannot take lines any more; someone posted it half-sent.
            lost = ", ".join(line.line_id for _, line in missing)
            raise _Rejected(f"ERP journal {number} is already posted without lines {lost}"[:MAX_MESSAGE_CHARS])
        first_error: str | None = None
        for chunk in _chunks(missing, self._chunk_size):
            error = self._send_chunk(journal, sets, number, chunk, progress)
            first_error = first_error or error
        if first_error is not None:
            return self._outcome(journal, progress, "create_error", first_error)

        if posted:
            return self._outcome(journal, progress, "posted", None)
        if journal.target_status != "Posted":
            return self._outcome(journal, progress, "created", None)
        if self._post_action is None:
            return self._outcome(
                journal,
                progress,
                "created",
                "Target status Posted: D365 has no standard OData action to post inventory journals; "
                "posting is left to the ERP (no post action configured).",
            )
        progress.stage = "post"
        self._post(sets, header, number)
        return self._outcome(journal, progress, "posted", None)

    def _find_header(self, journal: Journal, sets: EntitySets) -> dict[str, Any] | None:
        expr = (
            f"Description eq {odata_string(journal.journal_id)} "
            f"and dataAreaId eq {odata_string(journal.organization_id)}"
        )
        # D365 compares strings case-insensitively; only an exact match is ours.
        found = [h for h in self._query(sets.header, expr) if h.get("Description") == journal.journal_id]
        if len(found) > 1:
            numbers = ", ".join(sorted(str(h.get("JournalNumber")) for h in found))
            raise _Rejected(f"{len(found)} ERP journals carry id {journal.journal_id}: {numbers}; resolve by hand")
        return found[0] if found else None

    def _create_header(self, journal: Journal, sets: EntitySets) -> dict[str, Any]:
        body = {
            "dataAreaId": journal.organization_id,
            "JournalNameId": journal.journal_name_id,
            "Description": journal.journal_id,
        }
        response = self._request(
            "POST",
            self._root + sets.header,
            content=encode_json(body),
            headers={"Content-Type": "application/json", "Prefer": "return=representation"},
        )
        if response.status_code == 204 or not response.content:
            # No representation: read the number back through our own id.
            header = self._find_header(journal, sets)
            if header is None:
                raise _Transient("ERP created the header but did not return it")
            return header
        header = _decode_json(response.content)
        if not header.get("JournalNumber"):
            raise _Rejected(f"ERP answered the header create without a JournalNumber: {response.text()[:500]}")
        logger.info("journal %s: created ERP journal %s", journal.journal_id, header["JournalNumber"])
        return header

    def _existing_lines(self, journal: Journal, sets: EntitySets, number: str) -> dict[Decimal, dict[str, Any]]:
        expr = f"dataAreaId eq {odata_string(journal.organization_id)} and JournalNumber eq {odata_string(number)}"
        out: dict[Decimal, dict[str, Any]] = {}
        for record in self._query(sets.lines, expr):
            line_number = _decimal(record.get("LineNumber"))
            if line_number is not None:
                out[line_number] = record
        return out

    def _send_chunk(
        self,
        journal: Journal,
        sets: EntitySets,
        number: str,
        chunk: Sequence[tuple[int, JournalLine]],
        progress: _Progress,
    ) -> str | None:
        """Send one change set. Returns the ERP's message if it rejected the change set."""
        batch_boundary = f"batch_{uuid.uuid4()}"
        changeset_boundary = f"changeset_{uuid.uuid4()}"
        target = urlsplit(self._root + sets.lines).path
        parts: list[bytes] = []
        by_content_id: dict[str, JournalLine] = {}
        for content_id, (position, line) in enumerate(chunk, start=1):
            by_content_id[str(content_id)] = line
            payload = encode_json(_line_record(journal, number, position, line, sets))
            parts.append(
                (
                    f"--{changeset_boundary}\r\n"
                    "Content-Type: application/http\r\n"
                    "Content-Transfer-Encoding: binary\r\n"
                    f"Content-ID: {content_id}\r\n"
                    "\r\n"
                    f"POST {target} HTTP/1.1\r\n"
                    "Content-Type: application/json\r\n"
                    "Accept: application/json\r\n"
                    "\r\n"
                ).encode()
                + payload
                + b"\r\n"
            )
        body = (
            f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset_boundary}\r\n\r\n".encode()
            + b"".join(parts)
            + f"--{changeset_boundary}--\r\n\r\n--{batch_boundary}--\r\n".encode()
        )
        response = self._request(
            "POST",
            self._root + "$batch",
            content=body,
            headers={"Content-Type": f"multipart/mixed; boundary={batch_boundary}"},
        )
        try:
            results = parse_batch_response(response.content, response.headers.get("Content-Type", ""))
        except ValueError as exc:
            raise _Transient(f"unreadable $batch response: {exc}") from exc

        failed = [r for r in results if r.status >= 400 or r.status < 200]
        if not failed and len(results) == len(chunk):
            for position, line in chunk:
                progress.lines[line.line_id] = LineResult(line.line_id, erp_line_number=str(position))
            return None
        if not failed or any(r.status in (408, 429) or r.status >= 500 for r in failed):
            # Rolled back for a reason that is not about the data, or an incomplete answer:
            # look again (committed lines are recognised by their LineNumber) and resend.
            first = failed[0] if failed else None
            reason = f"HTTP {first.status} inside $batch" if first else "incomplete $batch response"
            delay = parse_retry_after(first.headers.get("retry-after"), self._now()) if first else None
            raise _Transient(reason, retry_after=delay)

        rejection = failed[0]
        message = _trim(odata_error_text(rejection.body))
        culprit = by_content_id.get(rejection.content_id or "")
        for _, line in chunk:
            if culprit is None or line is culprit:
                text = message
            else:
                text = f"not created: its change set was rolled back because line {culprit.line_id} was rejected"
            progress.lines[line.line_id] = LineResult(line.line_id, error=text)
        logger.info(
            "journal %s: ERP rejected a change set of %d lines (HTTP %d)",
            journal.journal_id,
            len(chunk),
            rejection.status,
        )
        return message

    def _post(self, sets: EntitySets, header: Mapping[str, Any], number: str) -> None:
        key = f"dataAreaId={odata_string(str(header['dataAreaId']))},JournalNumber={odata_string(number)}"
        key_segment = quote(key, safe=",='")
        url = f"{self._root}{sets.header}({key_segment})/{ACTION_NAMESPACE}.{self._post_action}"
        self._request("POST", url, content=b"{}", headers={"Content-Type": "application/json"})

    # ----- HTTP -------------------------------------------------------------------------------
    def _query(self, entity_set: str, filter_expr: str) -> Iterable[dict[str, Any]]:
        query = urlencode({"$filter": filter_expr, "cross-company": "true"}, quote_via=quote, safe="$'(),")
        url: str | None = f"{self._root}{entity_set}?{query}"
        while url is not None:
            doc = _decode_json(self._request("GET", url).content)
            yield from (record for record in doc.get("value", []) if isinstance(record, dict))
            next_link = doc.get("@odata.nextLink")
            if next_link is not None and urlsplit(next_link)[:2] != self._origin[:2]:
                # Never send our token to another host.
                raise _Rejected(f"refusing to follow @odata.nextLink to another origin: {next_link[:200]}")
            url = next_link

    def _request(
        self, method: str, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """One logical request through the pipeline (which waits out 429s); renews the token once on 401.

        5xx, 408 and transport errors raise ``_Transient`` so the caller re-checks the ERP's
        state before doing anything again: a POST whose answer was lost must not be repeated.
        """
        options: dict[str, Any] = {"connection_timeout": self._timeout, "read_timeout": self._timeout}
        if self._plain_http_ok:
            options["enforce_https"] = False
        renewed = False
        while True:
            request = HttpRequest(method, url, content=content, headers=dict(headers or {}))
            try:
                response = self._client.send_request(request, **options)
            except ClientAuthenticationError as exc:  # the credential failed: reported, not raised
                raise _Transient(f"could not get an access token: {type(exc).__name__}: {exc}") from exc
            except AzureError as exc:  # connection refused or dropped, timeout
                raise _Transient(f"{method} {_path(url)}: {type(exc).__name__}") from exc
            status = response.status_code
            if status == 401:
                if renewed:
                    raise _Rejected(f"ERP refused a freshly issued token (HTTP 401) for {method} {_path(url)}")
                # BearerTokenCredentialPolicy dropped the refused token; the next attempt gets a new one.
                renewed = True
                logger.info("HTTP 401 on %s %s; renewing the token once", method, _path(url))
                continue
            if status == 429:
                delay = parse_retry_after(response.headers.get("Retry-After"), self._now())
                if delay is not None and delay > self._max_retry_after:
                    raise _OutOfRetries(f"throttled by the ERP (HTTP 429); asked to wait {delay:g}s")
                raise _OutOfRetries(f"throttled by the ERP (HTTP 429) {self._max_retries + 1} times; retries exhausted")
            if status >= 500 or status == 408:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now())
                text = odata_error_text(response.content) if response.content else (response.reason or "")
                raise _Transient(f"HTTP {status} on {method} {_path(url)}: {_trim(text)}", retry_after)
            if status >= 400:
                raise _Rejected(_trim(odata_error_text(response.content) or f"HTTP {status}"))
            return response

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_max, self._backoff_base * (2**attempt)))

    # ----- outcomes ---------------------------------------------------------------------------
    def _failed(self, journal: Journal, progress: _Progress, message: str, *, retryable: bool) -> JournalOutcome:
        state: JournalState = "post_error" if progress.stage == "post" else "create_error"
        return self._outcome(journal, progress, state, message, retryable=retryable)

    def _outcome(
        self,
        journal: Journal,
        progress: _Progress,
        state: JournalState,
        message: str | None,
        *,
        retryable: bool = False,
    ) -> JournalOutcome:
        lines = tuple(progress.lines.get(line.line_id, LineResult(line.line_id)) for line in journal.lines)
        return JournalOutcome(
            journal_id=journal.journal_id,
            state=state,
            erp_journal_number=progress.journal_number,
            message=_trim(message) if message is not None else None,
            lines=lines,
            retryable=retryable,
        )


def _line_record(
    journal: Journal,
    number: str,
    position: int,
    line: JournalLine,
    sets: EntitySets = DEFAULT_ENTITY_SETS["adjustment"],
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "dataAreaId": journal.organization_id,
        "JournalNumber": number,
        "JournalNameId": journal.journal_name_id,
        "LineNumber": Decimal(position),
        "ItemNumber": line.item_number,
        sets.quantity: line.quantity,
    }
    for attribute, name in _LINE_FIELDS:
        value = getattr(line, attribute)
        if value is not None:
            record[sets.warehouse if attribute == "warehouse_id" else name] = value
    if line.transaction_date is not None:
        record[sets.date] = f"{line.transaction_date.isoformat()}T00:00:00Z"
    if line.unit_cost is not None:
        record["UnitCost"] = line.unit_cost
    return record


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _chunks(items: Sequence[tuple[int, JournalLine]], size: int) -> Iterator[Sequence[tuple[int, JournalLine]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _path(url: str) -> str:
    """The path only, for log lines and messages (no query values, no host)."""
    return urlsplit(url).path


def odata_connector_from_settings(
    env_url: str,
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    timeout: float = 30.0,
    max_retries: int = 5,
    chunk_size: int = 100,
    post_action: str | None = None,
) -> ODataErpConnector:
    """Build the connector from plain settings values (the settings module owns the names).

    With a client secret: ``ClientSecretCredential`` (app registration, client credentials
    flow). Without: ``DefaultAzureCredential`` (managed identity in Azure, ``client_id``
    selecting a user-assigned identity; developer login locally). The scope is always
    ``<env-url>/.default``.
    """
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    env_url = env_url.rstrip("/")
    credential: TokenCredential
    if client_secret:
        if not tenant_id or not client_id:
            raise ValueError("a client secret needs a tenant id and a client id")
        credential = ClientSecretCredential(tenant_id, client_id, client_secret)
    else:
        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    return ODataErpConnector(
        env_url,
        credential,
        scope=f"{env_url}/.default",
        timeout=timeout,
        max_retries=max_retries,
        chunk_size=chunk_size,
        post_action=post_action,
    )
