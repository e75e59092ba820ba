"""The REST API boundary the API functions share: the caller, error answers, JSON, CORS headers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import Response

from qip_shared import config
from qip_shared.api import Outcomes, RestApi, caller_sub, cors_headers
from qip_shared.errors import ApiError, BadRequestError, InternalError, UnauthorizedError
from qip_shared.testing.api import rest_event

APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


class TeapotError(ApiError):
    """A service's own error: its code and status travel as they are."""

    code = "TEAPOT"
    status = 418


def _api(cors_origins: tuple[str, ...] = (), *, refusals_warn: bool = False) -> RestApi:
    """A RestApi with routes that answer, refuse, fail and crash."""
    outcomes = Outcomes(
        subject="test api",
        failure_metric="TestFailures",
        route_hint="the route is GET /thing",
        rejection_metric="TestRejections" if refusals_warn else None,
        refusals_warn=refusals_warn,
    )
    api = RestApi("qip-api-test", outcomes, cors_origins=cors_origins)

    def thing() -> Response[Any]:
        return api.json_response(200, {"caller": api.caller()})

    def teapot() -> Response[Any]:
        raise TeapotError("short and stout")

    def unavailable() -> Response[Any]:
        try:
            raise ConnectionError("the bucket is gone")
        except ConnectionError as exc:
            raise InternalError("try later") from exc

    def crash() -> Response[Any]:
        raise RuntimeError("secret internals")

    for path, route in (("/thing", thing), ("/teapot", teapot), ("/down", unavailable)):
        api.app.get(path)(route)
    api.app.get("/crash")(crash)
    return api


def _event(path: str, *, origin: str | None = None, sub: str | None = "user-1") -> dict[str, Any]:
    return rest_event(path, sub=sub, origin=origin, request_id=REQUEST_ID)


def _call(api: RestApi, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers, one value each) of the function's answer."""
    answer = api.handle(event)
    headers = dict(answer.get("headers") or {})
    headers.update({k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()})
    return answer["statusCode"], json.loads(answer["body"]), headers


@pytest.fixture
def logs() -> Callable[[RestApi], Callable[[], list[dict[str, Any]]]]:
    """`logs(api)()`: the api's structured log lines so far."""

    def capture(api: RestApi) -> Callable[[], list[dict[str, Any]]]:
        buffer = io.StringIO()
        api.logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
        return lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]

    return capture


# --- the caller -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims", [None, {}, {"sub": ""}, {"sub": "  "}, {"sub": 5}, {"sub": 3}, {"email": "a@b"}]
)
def test_missing_identity_is_401(claims: dict[str, object] | None) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        caller_sub(claims)
    assert caught.value.status == 401


def test_caller_sub_is_read_from_claims() -> None:
    assert caller_sub({"sub": "abc", "email": "a@b"}) == "abc"
    assert caller_sub({"sub": " abc "}) == "abc"


def test_the_caller_is_answered_and_logged_with_the_request_id(logs: Any) -> None:
    api = _api()
    read = logs(api)
    status, body, headers = _call(api, _event("/thing", sub="user-42"))
    assert (status, body) == (200, {"caller": "user-42"})
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    status, body, _ = _call(api, _event("/thing", sub=None))
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
    refused = next(line for line in read() if line["message"] == "test api refused")
    assert refused["level"] == "INFO"
    assert refused["errorCode"] == "UNAUTHORIZED"
    assert refused["correlation_id"] == REQUEST_ID


# --- errors ---------------------------------------------------------------------------------


def test_an_api_error_is_its_status_and_body(logs: Any) -> None:
    api = _api(refusals_warn=True)
    read = logs(api)
    status, body, headers = _call(api, _event("/teapot"))
    assert (status, body) == (418, {"error": {"code": "TEAPOT", "message": "short and stout"}})
    assert headers["Cache-Control"] == "no-store"
    refused = next(line for line in read() if line["message"] == "test api refused")
    assert refused["level"] == "WARNING"


def test_a_5xx_api_error_is_logged_with_its_cause(logs: Any) -> None:
    api = _api()
    read = logs(api)
    status, body, _ = _call(api, _event("/down"))
    assert (status, body["error"]["code"]) == (500, "INTERNAL_ERROR")
    failed = next(line for line in read() if line["message"] == "test api failed")
    assert failed["level"] == "ERROR"
    assert (failed["errorType"], failed["cause"]) == ("InternalError", "ConnectionError")
    assert failed["causeMessage"] == "the bucket is gone"


def test_an_unexpected_error_is_500_without_internals(logs: Any) -> None:
    api = _api()
    read = logs(api)
    status, body, _ = _call(api, _event("/crash"))
    assert (status, body["error"]["code"]) == (500, "INTERNAL_ERROR")
    assert "secret" not in json.dumps(body)
    crash = next(line for line in read() if line["message"] == "test api crashed")
    assert crash["errorType"] == "RuntimeError"
    assert "Traceback" in crash["exception"]


def test_an_unknown_route_is_a_404_json_with_the_hint() -> None:
    status, body, _ = _call(_api(), _event("/elsewhere"))
    assert (status, body) == (
        404,
        {"error": {"code": "NOT_FOUND", "message": "the route is GET /thing"}},
    )


def test_metrics_count_refusals_and_failures(capsys: pytest.CaptureFixture[str]) -> None:
    api = _api(refusals_warn=True)
    for path in ("/teapot", "/elsewhere", "/down", "/crash"):
        _call(api, _event(path))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert [entry.get("TestRejections") for entry in emitted] == [[1.0], [1.0], None, None]
    assert [entry.get("TestFailures") for entry in emitted] == [None, None, [1.0], [1.0]]


def test_bad_request_is_400() -> None:
    error = BadRequestError("no")
    assert (error.status, error.to_body()) == (
        400,
        {"error": {"code": "BAD_REQUEST", "message": "no"}},
    )


# --- CORS -----------------------------------------------------------------------------------


def test_cors_headers_echo_only_an_allowed_origin() -> None:
    allowed = (APP_ORIGIN, "http://localhost:5173")
    assert cors_headers(APP_ORIGIN, allowed) == {
        "Access-Control-Allow-Origin": APP_ORIGIN,
        "Vary": "Origin",
    }
    assert cors_headers("http://localhost:5173", allowed)["Access-Control-Allow-Origin"] == (
        "http://localhost:5173"
    )
    assert cors_headers(OTHER_ORIGIN, allowed) == {"Vary": "Origin"}
    assert cors_headers(None, allowed) == {"Vary": "Origin"}
    # An origin is matched whole: a prefix or a suffix of an allowed one is another origin.
    assert cors_headers(APP_ORIGIN + ".evil.net", allowed) == {"Vary": "Origin"}
    assert cors_headers("https://app.example.co", allowed) == {"Vary": "Origin"}


def test_closed_cors_sends_no_cors_headers() -> None:
    assert cors_headers(APP_ORIGIN, ()) == {}
    assert cors_headers(None, ()) == {}


def test_a_wildcard_allows_any_origin_without_echoing_it() -> None:
    assert cors_headers(OTHER_ORIGIN, ("*",))["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in cors_headers(None, ("*",))


@pytest.mark.parametrize("path", ["/thing", "/teapot", "/down", "/crash", "/elsewhere"])
def test_every_answer_carries_the_cors_headers(path: str) -> None:
    api = _api((APP_ORIGIN,))
    _, _, allowed = _call(api, _event(path, origin=APP_ORIGIN))
    assert allowed["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert allowed["Vary"] == "Origin"
    _, _, other = _call(api, _event(path, origin=OTHER_ORIGIN))
    assert "Access-Control-Allow-Origin" not in other
    assert other["Vary"] == "Origin"


@pytest.mark.parametrize("path", ["/thing", "/teapot", "/crash", "/elsewhere"])
def test_closed_cors_answers_carry_no_cors_headers(path: str) -> None:
    _, _, headers = _call(_api(()), _event(path, origin=APP_ORIGIN))
    assert not {name for name in headers if name.startswith("Access-Control-")}
    assert "Vary" not in headers


def test_the_origin_header_is_matched_whatever_its_case() -> None:
    event = _event("/thing")
    event["headers"]["Origin"] = APP_ORIGIN
    _, _, headers = _call(_api((APP_ORIGIN,)), event)
    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_the_origins_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_CORS_ORIGINS, f"{APP_ORIGIN}, http://localhost:5173")
    api = RestApi("qip-api-test", Outcomes("test api", "TestFailures", "GET /thing"))
    assert api.cors_origins == (APP_ORIGIN, "http://localhost:5173")
    monkeypatch.delenv(config.ENV_CORS_ORIGINS)
    closed = RestApi("qip-api-test", Outcomes("test api", "TestFailures", "GET /thing"))
    assert closed.cors_origins == ()
