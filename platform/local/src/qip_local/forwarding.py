"""AWS calls from a handler worker answered by the embedded AWS's moto, without HTTP.

In a worker process, `install_forwarder` registers a botocore `before-send` handler (where moto
itself hooks in) that ships each signed request over the worker's connection; in the embedded
AWS's process, `answer_request` hands it to moto's running mock and returns its answer. The
client side of every call (serialising, signing, parsing) runs in the worker, on its own core.
"""

# moto is imported only in the embedded AWS's process, when it answers.
# ruff: noqa: PLC0415

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Iterator
from typing import Any

# (kind, ...) tuples on a worker's connection.
AWS_REQUEST = "aws"
AWS_ANSWER = "aws-answer"
AWS_FAILED = "aws-failed"
# Bodies this large (images) skip pickling: raw bytes after the message that announces them.
OUT_OF_BAND_BYTES = 64 * 1024

_state: dict[str, Any] = {"connection": None}
_lock = threading.Lock()


class RawBody(io.BytesIO):
    """A response body botocore can read or stream (as moto's `MockRawResponse`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        """The body in one piece, as urllib3's `stream` would yield it."""
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


class ForwardingError(Exception):
    """The embedded AWS cannot be reached: no connection, or it closed."""


def _remote_error(name: str, message: str) -> Exception:
    # The exception moto raised, by name: handlers match on classes they know, never on moto's.
    error_type: type[Exception] = type(name, (Exception,), {"__module__": __name__})
    return error_type(message)


def request_body(body: Any) -> bytes | str | None:
    """The body of a prepared request as bytes (a file-like body is read as moto reads it)."""
    if body is None or isinstance(body, bytes | str):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    # botocore rewinds a body itself before a retry (`reset_stream`); aws-chunked ones too.
    data: bytes = body.read()
    return data


def send_with_body(connection: Any, fields: tuple[Any, ...], body: Any) -> None:
    """Send `fields` and `body`; a large body goes as raw bytes after them (never pickled)."""
    if isinstance(body, bytes) and len(body) >= OUT_OF_BAND_BYTES:
        connection.send((*fields, None, True))
        connection.send_bytes(body)
    else:
        connection.send((*fields, body, False))


def receive_body(connection: Any, message: tuple[Any, ...]) -> tuple[Any, ...]:
    """A message from `send_with_body` as `(*fields, body)`, reading a body that follows it."""
    *fields, body, follows = message
    return (*fields, receive_bytes(connection) if follows else body)


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the connection closed")
        data += chunk
    return data


def receive_bytes(connection: Any) -> bytes:
    """One `send_bytes` message, read straight into a buffer of its size.

    `Connection.recv_bytes` asks the OS for the whole remainder on every read (a fresh
    allocation of megabytes per socket-buffer-sized chunk) and copies twice more; an image
    body costs tens of milliseconds that way.
    """
    fd = connection.fileno()
    (size,) = struct.unpack("!i", _read_exactly(fd, 4))
    if size == -1:  # multiprocessing's header for a message over 2 GiB
        (size,) = struct.unpack("!Q", _read_exactly(fd, 8))
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = os.readv(fd, [view[received:]])
        if count == 0:
            raise EOFError("the connection closed")
        received += count
    return bytes(buffer)


def forward_request(request: Any, **_: Any) -> Any:
    """botocore's `before-send`: the embedded AWS's answer to `request` (None: not handled)."""
    from botocore.awsrequest import AWSResponse

    connection = _state["connection"]
    if connection is None:
        # A process that forwards never reaches AWS any other way (the template, before fork).
        raise ForwardingError("this process has no connection to the embedded AWS")
    fields = (
        AWS_REQUEST,
        request.method,
        request.url,
        list(request.headers.items()),
        request.stream_output,
    )
    with _lock:
        try:
            send_with_body(connection, fields, request_body(request.body))
            answer = receive_body(connection, connection.recv())
        except (EOFError, OSError) as exc:
            raise ForwardingError("the embedded AWS closed the connection") from exc
    if answer[0] == AWS_FAILED:
        raise _remote_error(answer[1], answer[2])
    _, status, headers, body = answer
    if status is None:
        return None
    return AWSResponse(request.url, status, headers, RawBody(body))


def install_forwarder() -> None:
    """Send every botocore client's requests made from now on through `forward_request`.

    moto's own stubber, if this process imported moto, is switched off: a copy of the
    backends made by fork must never answer.
    """
    import sys

    from botocore.handlers import BUILTIN_HANDLERS

    stubber_module = sys.modules.get("moto.core.models")
    if stubber_module is not None:
        stubber_module.botocore_stubber.enabled = False
    if ("before-send", forward_request) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("before-send", forward_request))


def connect(connection: Any) -> None:
    """Forward this process's AWS calls over `connection` (a `multiprocessing` Connection)."""
    _state["connection"] = connection


def answer_request(message: tuple[Any, ...]) -> tuple[Any, ...]:
    """moto's answer to a forwarded request (runs in the embedded AWS, under its mock)."""
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders
    from moto.core.models import botocore_stubber

    _, method, url, header_items, stream_output, body = message
    headers = HTTPHeaders()
    for name, value in header_items:
        headers[name] = value
    request = AWSPreparedRequest(
        method=method, url=url, headers=headers, body=body, stream_output=stream_output
    )
    try:
        response = botocore_stubber.process_request(request)
    except Exception as exc:  # raised in the caller's client call, as in-process
        return (AWS_FAILED, type(exc).__name__, str(exc), None)
    if response is None:
        return (AWS_ANSWER, None, None, None)
    status, response_headers, response_body = response
    if isinstance(response_body, str):
        response_body = response_body.encode("utf-8")
    return (AWS_ANSWER, status, dict(response_headers), response_body)
