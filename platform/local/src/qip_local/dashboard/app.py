"""The dashboard's ASGI app (Starlette): server-rendered HTML, a little plain JavaScript.

Routes:
  GET  /                      the page (filters, upload area, list; `?image=KEY` opens a detail)
  GET  /fragments/images      the list alone (polled by the page; ETag, 304 when unchanged)
  GET  /fragments/image?key=  one image's timeline and workflow graph (polled while open)
  GET  /thumbnails?key=       an image's thumbnail, read from the upload bucket
  GET  /variants?key=&name=&format=   one rendered variant the record lists
  POST /api/upload-url        upload-url's answer (called as API Gateway + Cognito would call it)
  GET  /api/images?status=&since=&until=&limit=&nextToken=
  GET  /api/images/{id}       images-api's answers, the same way (the local user's own images)
  GET  /healthz               "ok"
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qip_local.dashboard.backend import LIST_LIMIT, DashboardBackend
from qip_local.dashboard.graph import render_svg, workflow_layout
from qip_local.dashboard.views import (
    FilterError,
    Filters,
    display_name,
    has_thumbnail,
    parse_filters,
    problem_text,
    timeline,
)
from qip_shared.enums import ImageStatus
from qip_shared.timeutil import parse_timestamp

HERE = Path(__file__).parent
ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# The list and the detail poll at this interval (ms); the page stops polling when hidden.
POLL_MS = 1000
MAX_UPLOAD_BODY = 4096


def _clock(text: str | None) -> str:
    """`07:14:39.690` from a record timestamp (UTC)."""
    if not text:
        return "—"
    return parse_timestamp(text).strftime("%H:%M:%S.%f")[:-3]


def _day_time(text: str | None) -> str:
    """`2026-11-26 07:14:39` from a record timestamp (UTC)."""
    if not text:
        return "—"
    return parse_timestamp(text).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.2f} s"


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(clock=_clock, day_time=_day_time, seconds=_seconds)
    env.globals.update(
        display_name=display_name, problem_text=problem_text, has_thumbnail=has_thumbnail
    )
    return Jinja2Templates(env=env)


class SecurityHeaders:
    """CSP and friends on every answer; the page may POST uploads to the embedded AWS only."""

    def __init__(self, app: ASGIApp, *, upload_origin: str | None) -> None:
        self.app = app
        connect = "'self'" + (f" {upload_origin}" if upload_origin else "")
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                    f"connect-src {connect}; form-action 'self'; frame-ancestors 'none'; "
                    "base-uri 'none'"
                ).encode(),
            ),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cached(request: Request, response: Response) -> Response:
    """Answer 304 when the client already holds this exact body (the list poll is cheap)."""
    tag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"etag": tag, "cache-control": "no-cache"})
    response.headers["etag"] = tag
    response.headers["cache-control"] = "no-cache"
    return response


class DashboardRoutes:
    """The route handlers of one dashboard, over its backend, templates and workflow drawings."""

    def __init__(self, backend: DashboardBackend) -> None:
        self.backend = backend
        self.templates = _templates()
        self.layout = workflow_layout(backend.definition)
        self.narrow_layout = workflow_layout(backend.definition, stacked=True)

    def routes(self) -> list[Route | Mount]:
        """Every path the dashboard answers."""
        return [
            Route("/", self.index),
            Route("/fragments/images", self.images_fragment),
            Route("/fragments/image", self.image_fragment),
            Route("/thumbnails", self.thumbnail),
            Route("/variants", self.variant),
            Route("/api/upload-url", self.upload_url, methods=["POST"]),
            Route("/api/images", self.images_api),
            Route("/api/images/{image_id:path}", self.images_api),
            Route("/healthz", self.healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    def list_context(self, filters: Filters) -> dict[str, Any]:
        """The template context of the image list under these filters."""
        images = self.backend.images(filters)
        return {"images": images, "filters": filters, "limit": LIST_LIMIT, "filter_error": None}

    def detail_context(self, key: str) -> dict[str, Any] | None:
        """The template context of one image's detail; None when there is no such record."""
        record = self.backend.record(key)
        if record is None:
            return None
        progress = self.backend.progress(record)
        name = display_name(record)
        # Two drawings of one graph: CSS shows the wide one, or the stacked one on a phone.
        svg = Markup("").join(
            render_svg(
                drawn,
                progress.states,
                title=f"Workflow of {name}",
                description=progress.describe(),
                id_prefix=f"workflow-{shape}",
                css_class=f"workflow--{shape}",
            )
            for shape, drawn in (("wide", self.layout), ("narrow", self.narrow_layout))
        )
        return {
            "record": record,
            "rows": timeline(record, self.backend.stages, now=datetime.now(UTC)),
            "progress": progress,
            "svg": svg,
            "problem": problem_text(record),
        }

    def page_context(self, request: Request) -> tuple[dict[str, Any], int]:
        """The page's (or the list fragment's) context and status: 400 on a bad filter."""
        status = 200
        try:
            filters = parse_filters(request.query_params)
            context = self.list_context(filters)
        except FilterError as exc:
            status = 400
            context = {"images": None, "filters": Filters(), "limit": LIST_LIMIT}
            context["filter_error"] = str(exc)
        context.update(
            query=dict(request.query_params),
            statuses=[s.value for s in ImageStatus],
            poll_ms=POLL_MS,
            stages=[s.value for s in self.backend.stages],
        )
        return context, status

    def index(self, request: Request) -> Response:
        """GET /: the whole page, with a detail open when `?image=KEY` names one."""
        context, status = self.page_context(request)
        key = request.query_params.get("image")
        context["detail"] = self.detail_context(key) if key else None
        context["selected"] = key
        return self.templates.TemplateResponse(request, "index.html", context, status_code=status)

    def images_fragment(self, request: Request) -> Response:
        """GET /fragments/images: the list alone."""
        context, status = self.page_context(request)
        context["selected"] = request.query_params.get("image")
        response = self.templates.TemplateResponse(
            request, "_images.html", context, status_code=status
        )
        return _cached(request, response) if status == 200 else response

    def image_fragment(self, request: Request) -> Response:
        """GET /fragments/image: one image's timeline and workflow graph."""
        key = request.query_params.get("key", "")
        detail = self.detail_context(key) if key else None
        if detail is None:
            return PlainTextResponse("no such image", status_code=404)
        response = self.templates.TemplateResponse(request, "_detail.html", {"detail": detail})
        return _cached(request, response)

    def thumbnail(self, request: Request) -> Response:
        """GET /thumbnails: an image's thumbnail."""
        key = request.query_params.get("key", "")
        body = self.backend.thumbnail(key) if key else None
        if body is None:
            return PlainTextResponse("no thumbnail (yet)", status_code=404)
        return Response(
            body, media_type="image/jpeg", headers={"cache-control": "private, max-age=300"}
        )

    def variant(self, request: Request) -> Response:
        """GET /variants: one rendered variant the record lists."""
        params = request.query_params
        found = self.backend.variant(
            params.get("key", ""), params.get("name", ""), params.get("format", "")
        )
        if found is None:
            return PlainTextResponse("no such variant", status_code=404)
        body, content_type = found
        return Response(
            body, media_type=content_type, headers={"cache-control": "private, max-age=60"}
        )

    async def upload_url(self, request: Request) -> Response:
        """POST /api/upload-url: upload-url's answer, for a local origin and a small JSON body."""
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).hostname not in {"127.0.0.1", "localhost", "::1"}:
            return _error(403, "FORBIDDEN_ORIGIN", "uploads are only issued to the dashboard")
        raw = await request.body()
        if len(raw) > MAX_UPLOAD_BODY:
            return _error(413, "BODY_TOO_LARGE", "the request body is too large")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "BAD_REQUEST", "the request body must be a JSON object")
        answer = await run_in_threadpool(self.backend.request_upload, body)
        return JSONResponse(answer.body, status_code=answer.status, headers=_NO_STORE)

    async def images_api(self, request: Request) -> Response:
        """GET /api/images[/{id}]: images-api's answers."""
        path = "/images" + (f"/{request.path_params['image_id']}" if request.path_params else "")
        answer = await run_in_threadpool(
            self.backend.images_api, path, dict(request.query_params.items())
        )
        return JSONResponse(answer.body, status_code=answer.status, headers=_NO_STORE)

    def healthz(self, _: Request) -> Response:
        """GET /healthz."""
        return PlainTextResponse("ok")


def create_app(backend: DashboardBackend) -> Starlette:
    """The dashboard for one running system."""
    middleware = [
        Middleware(SecurityHeaders, upload_origin=_origin(backend.endpoint_url)),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(ALLOWED_HOSTS)),
    ]
    app = Starlette(routes=DashboardRoutes(backend).routes(), middleware=middleware)
    app.state.backend = backend
    return app


_NO_STORE = {"cache-control": "no-store"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=_NO_STORE
    )
