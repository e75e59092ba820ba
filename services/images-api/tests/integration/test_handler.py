"""The images API against moto: ownership (404 for another user's image), pagination with opaque
tokens, presigned URLs that really fetch the outputs, never a Scan."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from qip_shared.enums import ImageStatus

ALICE = "7d8a2c5e-1111-4a4b-9c9d-0123456789ab"
BOB = "0c1d2e3f-2222-4b5c-8d9e-abcdefabcdef"


def test_the_owner_reads_an_image_with_presigned_output_urls(account: Any, get: Any) -> None:
    mine = account.image(ALICE)
    status, body, headers = get(f"/images/{mine.image_key}")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["imageKey"] == mine.image_key
    assert body["status"] == "COMPLETED"
    for private in ("owner", "executionArn", "claimedAt", "bucket"):
        assert private not in body
    assert set(body["outputs"]) == {"resized", "thumbnail"}
    for name, output in body["outputs"].items():
        assert output["expiresIn"] == 120
        query = parse_qs(urlsplit(output["url"]).query)
        assert query["X-Amz-Expires"] == ["120"]
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        # The URL really fetches the object (moto serves presigned GETs).
        fetched = requests.get(output["url"], timeout=10)
        assert fetched.status_code == 200
        assert fetched.content == f"{name}:{mine.image_key}".encode()


def test_the_id_may_be_percent_encoded(account: Any, get: Any) -> None:
    mine = account.image(ALICE)
    status, body, _ = get(f"/images/{quote(mine.image_key, safe='')}")
    assert (status, body["imageKey"]) == (200, mine.image_key)


def test_one_user_cannot_read_another_users_image(account: Any, get: Any) -> None:
    theirs = account.image(BOB)
    unowned = account.image(None)
    missing = "uploads/2026/11/26/00000000-0000-4000-8000-999999999999.jpg"
    answers = [get(f"/images/{key}") for key in (theirs.image_key, unowned.image_key, missing)]
    # Another user's image is answered exactly as a missing one: nothing leaks.
    assert [(status, body) for status, body, _ in answers] == [
        (404, {"error": {"code": "NOT_FOUND", "message": "no such image"}})
    ] * 3
    status, body, _ = get(f"/images/{theirs.image_key}", sub=BOB)
    assert (status, body["imageKey"]) == (200, theirs.image_key)


def test_no_identity_is_unauthorized(account: Any, get: Any) -> None:
    mine = account.image(ALICE)
    for path in (f"/images/{mine.image_key}", "/images"):
        status, body, _ = get(path, sub=None)
        assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")


def test_the_list_holds_only_the_callers_images_page_by_page(account: Any, get: Any) -> None:
    mine = [account.image(ALICE) for _ in range(5)]
    account.image(BOB)
    account.image(None)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"limit": "2", **({"nextToken": token} if token else {})}
        status, body, _ = get("/images", query=query)
        assert status == 200
        assert len(body["images"]) <= 2
        seen += [image["imageKey"] for image in body["images"]]
        assert all(set(image["outputs"]) == {"resized", "thumbnail"} for image in body["images"])
        pages += 1
        token = body["nextToken"]
        if token is None:
            break
    assert seen == [record.image_key for record in mine]  # oldest first, each once
    assert pages == 3


def test_the_list_filters_by_status_and_upload_time(account: Any, get: Any) -> None:
    done = account.image(ALICE, minutes=10)
    failed = account.image(ALICE, ImageStatus.FAILED, minutes=20)
    later = account.image(ALICE, minutes=40)
    account.image(BOB, ImageStatus.FAILED, minutes=20)

    def keys(query: dict[str, str]) -> list[str]:
        status, body, _ = get("/images", query=query)
        assert status == 200, body
        return [image["imageKey"] for image in body["images"]]

    assert keys({"status": "failed"}) == [failed.image_key]
    assert keys({"status": "COMPLETED"}) == [done.image_key, later.image_key]
    assert keys({"since": "2026-11-26T06:15:00Z", "until": "2026-11-26T06:30:00Z"}) == [
        failed.image_key
    ]
    assert keys({"since": "2026-11-27"}) == []
    _, body, _ = get("/images", query={"status": "failed"})
    assert body["images"][0]["outputs"] == {}  # a FAILED image has no outputs to sign


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"status": "LOST"}, "BAD_REQUEST"),
        ({"since": "yesterday"}, "BAD_REQUEST"),
        ({"limit": "0"}, "BAD_REQUEST"),
        ({"limit": "1000"}, "BAD_REQUEST"),
        ({"nextToken": "not-a-token"}, "BAD_REQUEST"),
    ],
)
def test_bad_queries_are_400(account: Any, get: Any, query: dict[str, str], code: str) -> None:
    status, body, _ = get("/images", query=query)
    assert (status, body["error"]["code"]) == (400, code)


def test_a_token_is_only_good_for_its_own_user_and_query(account: Any, get: Any) -> None:
    for _ in range(3):
        account.image(ALICE)
        account.image(BOB)
    _, first, _ = get("/images", query={"limit": "1"})
    token = first["nextToken"]
    assert token
    status, body, _ = get("/images", sub=BOB, query={"limit": "1", "nextToken": token})
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    status, _, _ = get("/images", query={"limit": "1", "status": "FAILED", "nextToken": token})
    assert status == 400


def test_reads_never_scan(account: Any, get: Any) -> None:
    mine = account.image(ALICE)
    operations: list[str] = []
    account.dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
    )
    get(f"/images/{mine.image_key}")
    get("/images", query={"status": "COMPLETED"})
    get("/images")
    assert operations
    assert set(operations) <= {"GetItem", "Query"}


def test_unknown_routes_are_404(account: Any, get: Any) -> None:
    status, body, _ = get("/elsewhere")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body, _ = get("/images/processed/secret.jpg")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_the_sample_events_work(account: Any, load_event: Any) -> None:
    from qip_images_api import handler  # noqa: PLC0415

    mine = account.image(ALICE)
    event = load_event("get_image.json")
    event["path"] = f"/images/{mine.image_key}"
    assert handler.handler(event, None)["statusCode"] == 200
    assert handler.handler(load_event("list_images.json"), None)["statusCode"] == 200


# CORS: the API's browser origins (closed by default) are answered on every response, errors too.
APP_ORIGIN = "https://app.example.com"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/images/{mine}", 200), ("/images", 200), ("/images/{theirs}", 404), ("/elsewhere", 404)],
)
def test_an_allowed_origin_is_echoed_on_answers_and_errors(
    account: Any, get: Any, monkeypatch: pytest.MonkeyPatch, path: str, expected: int
) -> None:
    from qip_images_api import handler  # noqa: PLC0415

    monkeypatch.setattr(handler.api, "cors_origins", (APP_ORIGIN, "http://localhost:5173"))
    keys = {"mine": account.image(ALICE).image_key, "theirs": account.image(BOB).image_key}
    status, _, headers = get(path.format(**keys), origin=APP_ORIGIN)
    assert status == expected
    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert headers["Vary"] == "Origin"
    _, _, unauthorized = get("/images", sub=None, origin=APP_ORIGIN)
    assert unauthorized["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_another_origin_gets_no_allow_origin(
    account: Any, get: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qip_images_api import handler  # noqa: PLC0415

    monkeypatch.setattr(handler.api, "cors_origins", (APP_ORIGIN,))
    for path, sub in (("/images", ALICE), ("/images", None), ("/elsewhere", ALICE)):
        _, _, headers = get(path, sub=sub, origin="https://evil.example.net")
        assert "Access-Control-Allow-Origin" not in headers
        assert headers["Vary"] == "Origin"


def test_closed_cors_sends_no_cors_headers(account: Any, get: Any) -> None:
    from qip_images_api import handler  # noqa: PLC0415

    assert handler.api.cors_origins == ()
    for path, sub in (("/images", ALICE), ("/images", None), ("/elsewhere", ALICE)):
        _, _, headers = get(path, sub=sub, origin=APP_ORIGIN)
        assert not [name for name in headers if name.startswith("Access-Control-")]
        assert "Vary" not in headers
