"""The REST API boundary the API functions share (upload-url, images-api).

API Gateway (REST, Lambda proxy integration) hands each request to a powertools resolver. Every
answer, errors included, is JSON, never cached, and carries the CORS headers of the configured
browser origins; an `ApiError` becomes its status and body, anything else a 500 without
internals; the log's correlation id is API Gateway's request id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from qip_shared import config
from qip_shared.boundary import LocalContext, function_logger, function_tracer
from qip_shared.config import QipSettings
from qip_shared.errors import ApiError, InternalError, RouteNotFoundError, UnauthorizedError

ALLOW_ORIGIN = "Access-Control-Allow-Origin"
ANY_ORIGIN = "*"


def caller_sub(claims: Mapping[str, Any] | None) -> str:
    """The authenticated caller's `sub` claim; UnauthorizedError when there is none."""
    sub = (claims or {}).get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise UnauthorizedError("the request carries no authenticated identity")
    return sub.strip()


def cors_headers(origin: str | None, allowed_origins: Sequence[str]) -> dict[str, str]:
    """`Vary: Origin` and the allowed `origin` echoed (`*` allows any); none when CORS is closed."""
    if not allowed_origins:
        return {}
    # Open, every answer varies by Origin: a cache must not serve one origin's answer to another.
    headers = {"Vary": "Origin"}
    if origin and origin in allowed_origins:
        headers[ALLOW_ORIGIN] = origin
    elif origin and ANY_ORIGIN in allowed_origins:
        headers[ALLOW_ORIGIN] = ANY_ORIGIN
    return headers


@dataclass(frozen=True)
class Outcomes:
    """How an API function names its answers in its logs and metrics."""

    subject: str  # the logs say "<subject> refused", "... failed" or "... crashed"
    failure_metric: str  # counted for every 5xx answer
    route_hint: str  # the message of a 404 for an unknown route or method
    rejection_metric: str | None = None  # counted for every 4xx answer, when set
    refusals_warn: bool = False  # a 4xx answer logs a WARNING (else INFO)


class RestApi:
    """One API function's resolver, logger, tracer and metrics, and its Lambda entry point."""

    def __init__(
        self, service: str, outcomes: Outcomes, *, cors_origins: Sequence[str] | None = None
    ) -> None:
        self.service = service
        self.outcomes = outcomes
        # The origins the stack set (`QIP_CORS_ORIGINS`); none: CORS closed, no CORS headers.
        origins = QipSettings.from_env().cors_origins if cors_origins is None else cors_origins
        self.cors_origins: tuple[str, ...] = tuple(origins)
        self.logger = function_logger(service)
        self.tracer = function_tracer(service)
        self.metrics = Metrics(namespace=config.metrics_namespace(), service=service)
        self.app = APIGatewayRestResolver()
        # Registered by call: powertools' decorators are untyped and would erase the signatures.
        self.app.exception_handler(ApiError)(self._answer_error)
        self.app.exception_handler(Exception)(self._answer_unexpected)
        self.app.not_found(self._answer_not_found)
        inject_context = self.logger.inject_lambda_context(
            clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
        )
        traced = self.tracer.capture_lambda_handler(self.metrics.log_metrics(self.app.resolve))
        self._resolve = inject_context(traced)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Answer one API Gateway event (`context=None`: the local runtime's stand-in)."""
        return cast(
            dict[str, Any], self._resolve(event, LocalContext.around(context, self.service))
        )

    def json_response(self, status: int, body: dict[str, Any]) -> Response[Any]:
        """A JSON answer with the request's CORS headers, never cached (it may sign URLs)."""
        origin = self.app.current_event.headers.get("origin")
        headers = {"Cache-Control": "no-store", **cors_headers(origin, self.cors_origins)}
        return Response(
            status_code=status, content_type="application/json", body=body, headers=headers
        )

    def caller(self) -> str:
        """The authenticated caller's Cognito subject, added to the logs as `callerSub`."""
        context = self.app.current_event.raw_event.get("requestContext") or {}
        sub = caller_sub((context.get("authorizer") or {}).get("claims"))
        self.logger.append_keys(callerSub=sub)
        return sub

    def _answer_error(self, error: ApiError) -> Response[Any]:
        outcomes = self.outcomes
        if error.status >= 500:
            cause = error.__cause__
            self.logger.error(
                f"{outcomes.subject} failed",
                extra={
                    "errorType": type(error).__name__,
                    "errorCode": error.code,
                    "cause": type(cause).__name__ if cause else None,
                    "causeMessage": str(cause) if cause else None,
                },
            )
            self.metrics.add_metric(name=outcomes.failure_metric, unit=MetricUnit.Count, value=1)
        else:
            log = self.logger.warning if outcomes.refusals_warn else self.logger.info
            log(f"{outcomes.subject} refused", extra={"errorCode": error.code})
            if outcomes.rejection_metric:
                self.metrics.add_metric(
                    name=outcomes.rejection_metric, unit=MetricUnit.Count, value=1
                )
        return self.json_response(error.status, error.to_body())

    def _answer_not_found(self, _: NotFoundError) -> Response[Any]:
        return self._answer_error(RouteNotFoundError(self.outcomes.route_hint))

    def _answer_unexpected(self, error: Exception) -> Response[Any]:
        # Full details go to the log only; the caller gets a stable code, never a stack trace.
        self.logger.exception(
            f"{self.outcomes.subject} crashed", extra={"errorType": type(error).__name__}
        )
        self.metrics.add_metric(name=self.outcomes.failure_metric, unit=MetricUnit.Count, value=1)
        failure = InternalError("an unexpected error occurred")
        return self.json_response(failure.status, failure.to_body())
