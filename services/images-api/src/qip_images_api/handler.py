"""images-api Lambda: API Gateway (REST, proxy) + Cognito authorizer -> the caller's own images.

GET /images/{id}                 one image (its id is its key), 404 unless the caller owns it
GET /images?status=&since=&until=&limit=&nextToken=
                                 the caller's images by upload time, a page at a time
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from qip_images_api import core
from qip_images_api.adapters import Adapters
from qip_images_api.tokens import InvalidTokenError
from qip_shared.api import Outcomes, RestApi
from qip_shared.boundary import Dependencies
from qip_shared.errors import BadRequestError
from qip_shared.record import ImageRecord

SERVICE = "qip-images-api"
api = RestApi(
    SERVICE,
    Outcomes(
        subject="images api",
        failure_metric="ImagesApiFailures",
        route_hint="the routes are GET /images and GET /images/{id}",
    ),
)
app = api.app
logger = api.logger
metrics = api.metrics

# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


def _image(record: ImageRecord, adapters: Adapters) -> dict[str, Any]:
    urls = adapters.signer.sign(core.output_keys(record))
    return core.image_body(record, urls, expires_in=adapters.signer.expires_in)


@app.get(core.ROUTE_LIST)
def list_images() -> Response[Any]:
    """GET /images: a page of the caller's images (owner index; never a Scan)."""
    caller = api.caller()
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
    return api.json_response(200, core.list_body(images, page.next_token))


# The id is the image key, `/` included: API Gateway's greedy `{id+}` passes it whole.
@app.get(f"{core.ROUTE_ONE_PREFIX}.+")
def get_image() -> Response[Any]:
    """GET /images/{id}: one of the caller's images (404 for anyone else's)."""
    caller = api.caller()
    key = core.image_key_from_path(app.current_event.path)
    logger.append_keys(imageKey=key)
    adapters = dependencies()
    record = core.owned(adapters.images.get(key), caller)
    return api.json_response(200, _image(record, adapters))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (accepts `context=None` for the local runtime)."""
    return api.handle(event, context)
