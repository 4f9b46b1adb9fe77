"""Entity group transactions at a third of the SDK's CPU cost, with the SDK's own operations and errors.

Why this exists: `TableClient.submit_transaction` (azure-data-tables 12.7, azure-core 1.41) builds
the multipart body with the `email` package, starts a thread pool for every request and changeset
to run one header policy per sub-request, and parses the reply with the `email` parser again with
another pool. Measured on Azurite with 4 threads: 10.7 ms of CPU for a transaction of 6 upserts,
against 3.1 ms here. One Python worker process runs on one core (the GIL), so those milliseconds
were most of what a sync or aggregation visit cost (bench/scale.py, README "Scale").

What stays the SDK's: each operation becomes a sub-request through the SDK's own
`TableBatchOperations` (entity serialisation, key escaping, ETag conditions), the outer request
goes through the client's pipeline (authentication, retries, the service version), and every
failure is decoded by the SDK's own `_decode_error`, so callers see the same exception types,
`status_code` and `error_code` as from `submit_transaction` (tests/integration/test_table_transactions.py
holds the two side by side on Azurite). Only the multipart framing, which is fixed by the
protocol, is written and read here.
"""

from __future__ import annotations

import http.client
import io
import time
import uuid
from collections.abc import Iterable
from typing import Any
from wsgiref.handlers import format_date_time

from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, TableTransactionError

try:  # the SDK's operation builder and error decoder (pinned in requirements-dev.lock; see below)
    from azure.core.rest._http_response_impl import RestHttpClientTransportResponse
    from azure.data.tables._error import RequestTooLargeError, _decode_error, _validate_tablename_error
    from azure.data.tables._table_batch import TableBatchOperations

    SDK_PARTS = True
except ImportError:  # a future SDK moved them: every transaction goes through the SDK's own call
    SDK_PARTS = False

CRLF = b"\r\n"


class MalformedBatchResponse(RuntimeError):
    """The service answered a transaction with a body that is not the multipart reply the protocol defines."""


def submit_transaction(client: TableClient, operations: Iterable[Any]) -> list[dict[str, str]]:
    """Commit `operations` (the SDK's tuples) in one transaction; each operation's metadata (`etag`)."""
    if not SDK_PARTS:
        return [dict(metadata) for metadata in client.submit_transaction(operations)]
    batch = TableBatchOperations(
        config=client._client._config,
        endpoint=f"{client.scheme}://{client._primary_hostname}",
        table_name=client.table_name,
        is_cosmos_endpoint=client._cosmos_endpoint,
    )
    try:
        for operation in operations:
            batch.add_operation(operation)
    except TypeError as exc:  # the SDK's own wording for a malformed operation
        raise TypeError(
            "The value of 'operations' must be an iterator of Tuples. "
            "Please check documentation for correct Tuple format."
        ) from exc
    if not batch.requests:
        return []
    outer, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    request = HttpRequest(
        "POST",
        f"{client.scheme}://{client._primary_hostname}/$batch",
        headers={
            "x-ms-version": client.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={outer}",
            "Accept": "application/json",
        },
        content=_body(batch.requests, outer, changeset),
    )
    response = client._client.send_request(request, stream=True)  # the client's pipeline: auth, retries
    response.read()
    if response.status_code == 413:
        raise _decode_error(
            response, error_message="The transaction request was too large", error_type=RequestTooLargeError
        )
    if response.status_code != 202:
        decoded = _decode_error(response)
        _validate_tablename_error(decoded, client.table_name)
        raise decoded
    parts = _parts(response.headers.get("Content-Type", ""), response.content)
    for position, part in enumerate(parts):
        status = _status(part)
        if not 200 <= status < 300:
            # Azure answers a failed transaction with the failing operation's reply alone (its message
            # starts with the operation's index); the SDK pairs it with the request in the same position.
            failed = _part_response(part, batch.requests[min(position, len(batch.requests) - 1)])
            if status == 413:
                raise _decode_error(
                    failed, error_message="The transaction request was too large", error_type=RequestTooLargeError
                )
            decoded = _decode_error(response=failed, error_type=TableTransactionError)
            _validate_tablename_error(decoded, client.table_name)
            raise decoded
    if len(parts) != len(batch.requests):
        raise MalformedBatchResponse(f"{len(parts)} replies to a transaction of {len(batch.requests)} operations")
    return [_metadata(part) for part in parts]


def _body(requests: list[Any], outer: str, changeset: str) -> bytes:
    """The `multipart/mixed` body: one changeset holding each operation as an `application/http` part,
    byte for byte the framing the SDK writes (its `x-ms-date`/`Date` on every sub-request included)."""
    date = format_date_time(time.time())
    out = io.BytesIO()
    out.write(f"--{outer}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode())
    for index, sub in enumerate(requests):
        content = sub.content
        body = content if isinstance(content, bytes) else (content or "").encode()
        headers = dict(sub.headers)
        if body and "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        headers["x-ms-date"] = headers["Date"] = date
        out.write(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {index}\r\n\r\n{sub.method} {sub.url} HTTP/1.1\r\n".encode()
        )
        out.write("".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode())
        out.write(CRLF + body + CRLF)
    out.write(f"--{changeset}--\r\n\r\n--{outer}--\r\n".encode())
    return out.getvalue()


def _boundary(content_type: str) -> bytes:
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode()
    raise MalformedBatchResponse(f"a transaction reply without a multipart boundary: {content_type[:100]!r}")


def _mime_headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.split(CRLF):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _parts(content_type: str, content: bytes) -> list[bytes]:
    """Each operation's raw HTTP reply (status line, headers, body), in order, from nested multiparts."""
    delimiter = b"--" + _boundary(content_type)
    replies: list[bytes] = []
    for chunk in content.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter; what follows is the epilogue
        head, separator, rest = chunk.removeprefix(CRLF).partition(CRLF + CRLF)
        if not separator:
            raise MalformedBatchResponse("a transaction reply part without headers")
        part_type = _mime_headers(head).get("content-type", "")
        if part_type.startswith("multipart/mixed"):
            replies += _parts(part_type, rest)
        else:
            replies.append(_from_status_line(rest.removesuffix(CRLF)))
    return replies


def _from_status_line(reply: bytes) -> bytes:
    """Azurite puts the changeset boundary's name on a line of its own before a failed operation's
    status line (the SDK's parser then fails with `BadStatusLine` instead of the service's error);
    the reply starts at its status line."""
    start = reply.find(b"HTTP/")
    return reply[start:] if start > 0 and reply[:start].endswith(CRLF) else reply


def _status(reply: bytes) -> int:
    line = reply.split(CRLF, 1)[0].split()
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        raise MalformedBatchResponse(f"a transaction reply part is not an HTTP response: {reply[:80]!r}")
    return int(line[1])


def _metadata(reply: bytes) -> dict[str, str]:
    head = reply.partition(CRLF + CRLF)[0].partition(CRLF)[2]
    etag = _mime_headers(head).get("etag")
    return {"etag": etag} if etag else {}


class _Socket:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *_: Any) -> io.BytesIO:
        return io.BytesIO(self._data)


def _part_response(reply: bytes, request: Any) -> RestHttpClientTransportResponse:
    """A failed operation's reply as an azure-core response, the type the SDK decodes its errors from."""
    raw = http.client.HTTPResponse(_Socket(reply), method=request.method)  # type: ignore[arg-type]
    raw.begin()
    response = RestHttpClientTransportResponse(request=request, internal_response=raw)
    response.read()
    return response
