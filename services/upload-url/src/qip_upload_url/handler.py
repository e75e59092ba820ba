"""upload-url Lambda: API Gateway (REST, proxy) + Cognito authorizer -> a presigned POST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from qip_shared.api import Outcomes, RestApi
from qip_shared.boundary import Dependencies
from qip_upload_url import core
from qip_upload_url.adapters import Adapters

SERVICE = "qip-upload-url"
ROUTE = "/upload-url"
api = RestApi(
    SERVICE,
    Outcomes(
        subject="upload url",
        failure_metric="UploadUrlFailures",
        route_hint=f"the only route is {ROUTE} (GET or POST)",
        rejection_metric="UploadUrlRejections",
        refusals_warn=True,
    ),
)
app = api.app
logger = api.logger
metrics = api.metrics

# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


@app.post(ROUTE)
def post_upload_url() -> Response[Any]:
    """POST /upload-url with a JSON body."""
    owner = api.caller()
    return _issue(core.params_from_body(app.current_event.decoded_body), owner)


@app.get(ROUTE)
def get_upload_url() -> Response[Any]:
    """GET /upload-url with query-string parameters (the design's form)."""
    owner = api.caller()
    return _issue(app.current_event.query_string_parameters or {}, owner)


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
    return api.json_response(200, body)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (accepts `context=None` for the local runtime)."""
    return api.handle(event, context)
