"""images-api Lambda: API Gateway (REST, proxy) + Cognito authorizer -> the caller's own images.

GET /images/{id}                 one image (its id is its key), 404 unless the caller owns it
GET /images?status=&since=&until=&limit=&nextToken=
                                 the caller's images by upload time, a page at a time
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from qip_images_api import core
from qip_images_api.adapters import Adapters
from qip_images_api.errors import (
    BadRequestError,
    ImagesApiError,
    InternalError,
    RouteNotFoundError,
)
from qip_images_api.tokens import InvalidTokenError
from qip_shared import config
from qip_shared.boundary import Dependencies, LocalContext, function_logger, function_tracer
from qip_shared.config import QipSettings
from qip_shared.record import ImageRecord

SERVICE = "qip-images-api"
logger = function_logger(SERVICE)
tracer = function_tracer(SERVICE)
metrics = Metrics(namespace=config.metrics_namespace(), service=SERVICE)


def _cors(origins: tuple[str, ...]) -> CORSConfig | None:
    """CORS headers for the configured browser origins only (none configured: none sent)."""
    if not origins:
        return None
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=list(origins[1:]),
        allow_headers=["Authorization"],
        max_age=300,
    )


app = APIGatewayRestResolver(cors=_cors(QipSettings.from_env().cors_origins))

# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


def _caller() -> str:
    context = app.current_event.raw_event.get("requestContext") or {}
    sub = core.caller_sub((context.get("authorizer") or {}).get("claims"))
    logger.append_keys(callerSub=sub)
    return sub


def _image(record: ImageRecord, adapters: Adapters) -> dict[str, Any]:
    urls = adapters.signer.sign(core.output_keys(record))
    return core.image_body(record, urls, expires_in=adapters.signer.expires_in)


@app.get(core.ROUTE_LIST)
def list_images() -> Response[Any]:
    """GET /images: a page of the caller's images (owner index; never a Scan)."""
    caller = _caller()
    request = core.parse_list_request(app.current_event.query_string_parameters or {})
    adapters = dependencies()
    try:
        page = adapters.images.page_by_owner(
            caller,
            request.since,
            request.until,
            status=request.status,
            page_size=request.limit,
            token=request.token,
        )
    except InvalidTokenError as exc:
        raise BadRequestError(str(exc)) from exc
    images = [_image(record, adapters) for record in page.records]
    metrics.add_metric(name="ImagesListed", unit=MetricUnit.Count, value=len(images))
    return _json_response(200, core.list_body(images, page.next_token))


# The id is the image key, `/` included: API Gateway's greedy `{id+}` passes it whole.
@app.get(f"{core.ROUTE_ONE_PREFIX}.+")
def get_image() -> Response[Any]:
    """GET /images/{id}: one of the caller's images (404 for anyone else's)."""
    caller = _caller()
    key = core.image_key_from_path(app.current_event.path)
    logger.append_keys(imageKey=key)
    adapters = dependencies()
    record = core.owned(adapters.images.get(key), caller)
    return _json_response(200, _image(record, adapters))


def _json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    # Signed URLs must never be served from a cache.
    return Response(
        status_code=status,
        content_type="application/json",
        body=body,
        headers={"Cache-Control": "no-store"},
    )


def _answer_error(error: ImagesApiError) -> Response[Any]:
    if error.status >= 500:
        logger.error(
            "images api failed", extra={"errorType": type(error).__name__, "errorCode": error.code}
        )
        metrics.add_metric(name="ImagesApiFailures", unit=MetricUnit.Count, value=1)
    else:
        logger.info("images api refused", extra={"errorCode": error.code})
    return _json_response(error.status, error.to_body())


@app.not_found
def _answer_not_found(_: NotFoundError) -> Response[Any]:
    return _answer_error(RouteNotFoundError("the routes are GET /images and GET /images/{id}"))


def _answer_unexpected(error: Exception) -> Response[Any]:
    # Full details go to the log only; the caller gets a stable code, never a stack trace.
    logger.exception("images api crashed", extra={"errorType": type(error).__name__})
    metrics.add_metric(name="ImagesApiFailures", unit=MetricUnit.Count, value=1)
    failure = InternalError("an unexpected error occurred")
    return _json_response(failure.status, failure.to_body())


# Registered by call: powertools' decorator is untyped and would erase these signatures.
app.exception_handler(ImagesApiError)(_answer_error)
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
