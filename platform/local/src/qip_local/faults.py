"""Fault hooks for the in-process system: make chosen AWS calls or functions fail.

- `FaultInjector` answers chosen AWS API calls (any client in this process, including the
  handlers' and Step Functions' own) with an error response, before moto sees them, so the
  SDK's retry logic and the handlers' error mapping react as they would on AWS.
- Function faults use `FunctionRegistry.add_fault_hook` (see `stage_fault`).
Seeded and repeatable; in-process mode only (a server's clients go over HTTP).
"""

# moto is imported only when the injector is installed (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_XML_SERVICES = {"s3"}
_QUERY_SERVICES = {"sns", "sts", "iam"}


@dataclass
class AwsFault:
    """Fail calls to `service` (botocore's event name: s3, dynamodb, sns, eventbridge, ...)."""

    service: str
    operation: str | None = None
    code: str = "ThrottlingException"
    status: int = 400
    message: str = "injected fault"
    times: int | None = None
    rate: float = 1.0
    injected: int = 0

    def matches(self, service: str, operation: str) -> bool:
        """Whether this fault covers the call."""
        if self.service != service:
            return False
        return self.operation is None or self.operation == operation


def error_response(
    service: str, code: str, status: int, message: str
) -> tuple[dict[str, str], bytes]:
    """Headers and body of an AWS error in the protocol the service speaks."""
    if service in _XML_SERVICES:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return {"Content-Type": "application/xml"}, body.encode()
    if service in _QUERY_SERVICES:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        )
        return {"Content-Type": "text/xml"}, body.encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    return headers, json.dumps({"__type": code, "message": message}).encode()


class FaultInjector:
    """A seeded set of AWS faults, active inside `installed()`."""

    def __init__(self, seed: int = 0) -> None:
        self.faults: list[AwsFault] = []
        self.log: list[tuple[str, str, str]] = []
        self._random = random.Random(seed)  # noqa: S311 - repeatable faults, not security
        self._lock = threading.Lock()

    def add(self, fault: AwsFault) -> AwsFault:
        """Start injecting `fault`."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Stop injecting anything."""
        with self._lock:
            self.faults.clear()

    def pick(self, service: str, operation: str) -> AwsFault | None:
        """The fault to inject into this call, if any (counts it)."""
        with self._lock:
            for fault in self.faults:
                if not fault.matches(service, operation):
                    continue
                if fault.times is not None and fault.injected >= fault.times:
                    continue
                if fault.rate < 1.0 and self._random.random() >= fault.rate:
                    continue
                fault.injected += 1
                self.log.append((service, operation, fault.code))
                return fault
        return None

    @contextlib.contextmanager
    def installed(self) -> Iterator[FaultInjector]:
        """Intercept every in-process AWS call while the block runs."""
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

        original: Callable[..., Any] = BotocoreStubber.__call__
        injector = self

        def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            _, service, operation = [*event_name.split("."), "", ""][:3]
            fault = injector.pick(service, operation) if stubber.enabled else None
            if fault is None:
                return original(stubber, event_name, request, **kwargs)
            headers, body = error_response(service, fault.code, fault.status, fault.message)
            return AWSResponse(request.url, fault.status, headers, MockRawResponse(body))

        BotocoreStubber.__call__ = call  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def stage_fault(
    function_name: str, error: Callable[[int], Exception], *, attempts: int | None = None
) -> Callable[[str, Any, int], None]:
    """A function fault hook: raise `error(attempt)` on the first `attempts` calls (all if None)."""

    def hook(name: str, event: Any, attempt: int) -> None:
        if name == function_name and (attempts is None or attempt <= attempts):
            raise error(attempt)

    return hook
