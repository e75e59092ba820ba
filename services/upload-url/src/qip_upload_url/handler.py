"""upload-url Lambda: API Gateway (REST, proxy) + Cognito authorizer -> a presigned POST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from qip_shared import config
from qip_shared.boundary import Dependencies, LocalContext, function_logger, function_tracer
from qip_upload_url import core
from qip_upload_url.adapters import Adapters
from qip_upload_url.errors import InternalError, RouteNotFoundError, UploadUrlError

SERVICE = "qip-upload-url"
ROUTE = "/upload-url"
logger = function_logger(SERVICE)
tracer = function_tracer(SERVICE)
metrics = Metrics(namespace=config.metrics_namespace(), service=SERVICE)
app = APIGatewayRestResolver()

# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


@app.post(ROUTE)
def post_upload_url() -> Response[Any]:
    """POST /upload-url with a JSON body."""
    owner = _authenticate()
    return _issue(core.params_from_body(app.current_event.decoded_body), owner)


@app.get(ROUTE)
def get_upload_url() -> Response[Any]:
    """GET /upload-url with query-string parameters (the design's form)."""
    owner = _authenticate()
    return _issue(app.current_event.query_string_parameters or {}, owner)


def _authenticate() -> str:
    """The caller's Cognito subject (it becomes the image's owner)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims")
    sub = core.caller_sub(claims)
    logger.append_keys(callerSub=sub)
    return sub


def _issue(params: dict[str, Any], owner: str) -> Response[Any]:
    adapters = dependencies()
    settings = adapters.settings
    request = core.parse_upload_request(params, max_bytes=settings.max_bytes)
    plan = core.plan_upload(
        request,
        now=datetime.now(UTC),
        image_uuid=uuid.uuid4(),
        max_bytes=settings.max_bytes,
        owner=owner,
    )
    logger.append_keys(imageKey=plan.key)
    signed = adapters.signer.presign(plan, expires_in=settings.upload_url_expires)
    metrics.add_metric(name="UploadUrlsIssued", unit=MetricUnit.Count, value=1)
    logger.info(
        "upload url issued",
        extra={"contentType": plan.content_type, "declaredSize": request.size},
    )
    body = core.upload_response(
        plan, url=signed["url"], fields=signed["fields"], expires_in=settings.upload_url_expires
    )
    return _json_response(200, body)


def _json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    # A signed URL (or an error about one) must never be served from a cache.
    return Response(
        status_code=status,
        content_type="application/json",
        body=body,
        headers={"Cache-Control": "no-store"},
    )


def _error_response(error: UploadUrlError) -> Response[Any]:
    return _json_response(error.status, error.to_body())


def _answer_error(error: UploadUrlError) -> Response[Any]:
    if error.status >= 500:
        cause = error.__cause__
        logger.error(
            "upload url failed",
            extra={
                "errorType": type(error).__name__,
                "errorCode": error.code,
                "cause": type(cause).__name__ if cause else None,
                "causeMessage": str(cause) if cause else None,
            },
        )
        metrics.add_metric(name="UploadUrlFailures", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("upload url refused", extra={"errorCode": error.code})
        metrics.add_metric(name="UploadUrlRejections", unit=MetricUnit.Count, value=1)
    return _error_response(error)


@app.not_found
def _answer_not_found(_: NotFoundError) -> Response[Any]:
    metrics.add_metric(name="UploadUrlRejections", unit=MetricUnit.Count, value=1)
    return _error_response(RouteNotFoundError(f"the only route is {ROUTE} (GET or POST)"))


def _answer_unexpected(error: Exception) -> Response[Any]:
    # Full details go to the log only; the caller gets a stable code, never a stack trace.
    logger.exception("upload url crashed", extra={"errorType": type(error).__name__})
    metrics.add_metric(name="UploadUrlFailures", unit=MetricUnit.Count, value=1)
    return _error_response(InternalError("an unexpected error occurred"))


# Registered by call: powertools' decorator is untyped and would erase these signatures.
app.exception_handler(UploadUrlError)(_answer_error)
app.exception_handler(Exception)(_answer_unexpected)


@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (accepts `context=None` for the local runtime)."""
    return cast(dict[str, Any], _handle(event, LocalContext.around(context, SERVICE)))
