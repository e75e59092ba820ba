"""The dashboard app over a real (in-process) local system, through Starlette's TestClient."""

from __future__ import annotations

import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from PIL import Image
from starlette.testclient import TestClient

from qip_local.client import UploadTicket
from qip_local.dashboard import DashboardBackend, create_app
from qip_shared.enums import ImageStatus, StageName
from qip_shared.errors import PermanentError

SVG = "{http://www.w3.org/2000/svg}"
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def local(runtime):
    return runtime.local_client()


@pytest.fixture(scope="module")
def web(runtime, local) -> Iterator[TestClient]:
    with TestClient(create_app(DashboardBackend(local)), base_url="http://127.0.0.1") as client:
        yield client


def upload(web: TestClient, local, data: bytes, name: str, content_type: str) -> str:
    """What the page's script does: ask the dashboard for a POST, then POST to S3."""
    answer = web.post(
        "/api/upload-url", json={"fileName": name, "contentType": content_type, "size": len(data)}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    ticket = UploadTicket(url=body["url"], fields=body["fields"], image_key=body["imageKey"])
    local.post_file(ticket, data, name)
    return body["imageKey"]


@pytest.fixture(scope="module")
def processed(runtime, web, local, encode) -> dict[str, str]:
    """Three images through the real path: one completes, one is rejected, one fails in resize."""

    doomed_data = encode((300, 200), "PNG")
    ticket = web.post(
        "/api/upload-url",
        json={"fileName": "doomed.png", "contentType": "image/png", "size": len(doomed_data)},
    ).json()

    def fail_resize(function_name: str, event, attempt: int) -> None:
        if function_name.endswith("-resize") and ticket["imageKey"] in json.dumps(event):
            raise PermanentError("the resize disk is on fire")

    remove = runtime.add_fault_hook(fail_resize)
    local.post_file(
        UploadTicket(ticket["url"], ticket["fields"], ticket["imageKey"]), doomed_data, "doomed.png"
    )
    keys = {
        "good": upload(
            web,
            local,
            encode((640, 480), "JPEG"),
            "sunset <img src=x onerror=alert(1)>.jpg",
            "image/jpeg",
        ),
        "text": upload(web, local, b"not an image at all\n" * 8, "notes.png", "image/png"),
        "failed": ticket["imageKey"],
    }
    try:
        records = local.wait_for(list(keys.values()), timeout=120)
    finally:
        remove()
    assert {name: records[key].status for name, key in keys.items()} == {
        "good": ImageStatus.COMPLETED,
        "text": ImageStatus.REJECTED,
        "failed": ImageStatus.FAILED,
    }
    return keys


def rows(html: str) -> dict[str, dict]:
    """The list's items by image key, with their status and visible text."""
    found = {}
    for chunk in html.split('<li class="image')[1:]:
        key = chunk.split('data-key="', 1)[1].split('"', 1)[0]
        status = chunk.split('data-status="', 1)[1].split('"', 1)[0]
        found[key] = {"status": status, "html": chunk.split("</li>", 1)[0]}
    return found


def test_page_has_labelled_upload_area_filters_and_live_region(web) -> None:
    page = web.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'id="file-input" class="visually-hidden" name="files" type="file" multiple' in html
    assert '<label class="button" for="file-input">' in html
    for field in ("filter-status", "filter-since", "filter-until"):
        assert f'<label for="{field}">' in html
        assert f'id="{field}"' in html
    assert 'aria-live="polite"' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert web.get("/static/dashboard.js").status_code == 200


def test_upload_url_is_the_real_handler_with_local_claims(web) -> None:
    answer = web.post(
        "/api/upload-url", json={"fileName": "a.webp", "contentType": "image/webp", "size": 10}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["imageKey"].startswith(f"uploads/{TODAY:%Y/%m/%d}/")
    assert body["imageKey"].endswith(".webp")
    assert body["fields"]["key"] == body["imageKey"]
    assert body["fields"]["Content-Type"] == "image/webp"
    assert {"policy", "x-amz-signature"} <= set(body["fields"])
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"fileName": "a.svg", "contentType": "image/svg+xml", "size": 10}, 415, None),
        ({"fileName": "a.jpg", "contentType": "image/jpeg", "size": 0}, 400, "BAD_REQUEST"),
        ({"fileName": "a.jpg", "contentType": "image/jpeg", "size": 11 * 2**20}, 413, None),
    ],
)
def test_upload_url_refusals_pass_through_with_their_code(web, payload, status, code) -> None:
    answer = web.post("/api/upload-url", json=payload)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"]
    assert error["message"]
    if code:
        assert error["code"] == code


def test_upload_url_refuses_bad_bodies_foreign_origins_and_hosts(web) -> None:
    assert web.post("/api/upload-url", content=b"[1, 2]").status_code == 400
    assert web.post("/api/upload-url", content=b"{").status_code == 400
    foreign = web.post(
        "/api/upload-url",
        json={"contentType": "image/png", "size": 1},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    # DNS rebinding: a page on another name that resolves here is refused.
    assert web.get("/", headers={"host": "evil.example"}).status_code == 400


def test_list_shows_statuses_thumbnails_reasons_and_errors(web, local, processed) -> None:
    html = web.get("/fragments/images").text
    found = rows(html)
    good, text, failed = (found[processed[k]] for k in ("good", "text", "failed"))
    assert good["status"] == "COMPLETED"
    assert "/thumbnails?key=" in good["html"]
    # The uploader's file name (as upload-url kept it) is shown escaped, never as markup.
    name = local.record(processed["good"]).original_name
    assert "<img src=x" in name
    assert f'alt="Thumbnail of {escape(name)}"' in good["html"]
    assert "<img src=x" not in html
    assert text["status"] == "REJECTED"
    assert "Reason: <code>UNSUPPORTED_FORMAT</code>" in text["html"]
    assert failed["status"] == "FAILED"
    assert "PermanentError: PERMANENT: the resize disk is on fire" in failed["html"]
    assert "<img" not in text["html"]


def test_thumbnail_is_served_from_the_upload_bucket(web, processed) -> None:
    answer = web.get("/thumbnails", params={"key": processed["good"]})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.content)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (200, 200)
    assert web.get("/thumbnails", params={"key": processed["text"]}).status_code == 404
    assert web.get("/thumbnails", params={"key": "uploads/nope.jpg"}).status_code == 404
    assert web.get("/thumbnails").status_code == 404


# Issue 15: the dashboard serves the images API's routes with the local user's identity.
def test_images_api_routes_answer_the_local_users_images(web, processed) -> None:
    one = web.get(f"/api/images/{processed['good']}")
    assert one.status_code == 200
    body = one.json()
    assert body["imageKey"] == processed["good"]
    assert set(body["outputs"]) == {"resized", "thumbnail"}
    assert one.headers["cache-control"] == "no-store"
    listed = web.get("/api/images", params={"status": "COMPLETED", "limit": "100"})
    assert listed.status_code == 200
    assert processed["good"] in [image["imageKey"] for image in listed.json()["images"]]
    missing = web.get("/api/images/uploads/2026/01/01/00000000-0000-4000-8000-000000000000.jpg")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert web.get("/api/images", params={"status": "LOST"}).status_code == 400


def test_filters_query_the_index_by_status_and_day(web, processed) -> None:
    rejected = rows(web.get("/fragments/images", params={"status": "REJECTED"}).text)
    assert processed["text"] in rejected
    assert {row["status"] for row in rejected.values()} == {"REJECTED"}
    today = rows(
        web.get(
            "/fragments/images", params={"since": TODAY.isoformat(), "until": TODAY.isoformat()}
        ).text
    )
    assert set(processed.values()) <= set(today)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    later = web.get("/fragments/images", params={"since": tomorrow})
    assert later.status_code == 200
    assert rows(later.text) == {}
    assert "data-empty" in later.text
    bad = web.get("/fragments/images", params={"status": "DONE"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    assert "unknown status" in bad.text
    page = web.get("/", params={"status": "COMPLETED", "since": TODAY.isoformat()})
    assert '<option value="COMPLETED" selected>' in page.text
    assert processed["good"] in page.text
    assert processed["text"] not in page.text


def test_list_fragment_answers_304_until_something_changes(web, local, processed, encode) -> None:
    first = web.get("/fragments/images")
    tag = first.headers["etag"]
    assert web.get("/fragments/images", headers={"if-none-match": tag}).status_code == 304
    key = upload(web, local, encode((64, 64), "PNG"), "late.png", "image/png")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again = web.get("/fragments/images", headers={"if-none-match": tag})
        if again.status_code == 200 and key in again.text:
            break
        time.sleep(0.1)
    assert again.status_code == 200
    assert key in again.text
    local.wait_for([key], timeout=60)


def graph_states(html: str, shape: str = "wide") -> dict[str, str]:
    start = html.index(f'<svg class="workflow workflow--{shape}"')
    root = ET.fromstring(html[start : html.index("</svg>", start) + 6])
    return {g.get("data-state"): g.get("data-status") for g in root.iter(f"{SVG}g")}


def test_detail_of_a_completed_image_has_timeline_and_graph_at_the_end(
    web, local, processed
) -> None:
    key = processed["good"]
    html = web.get("/fragments/image", params={"key": key}).text
    record = local.record(key)
    for stage in StageName:
        info = record.stages.get(stage)
        assert f'<tr data-stage="{stage.value}" data-status="COMPLETED">' in html
        assert f'data-duration-ms="{info.duration_ms}"' in html
        assert f'<time datetime="{info.started_at}">' in html
        assert f'<time datetime="{info.completed_at}">' in html
    states = graph_states(html)
    assert graph_states(html, "narrow") == states  # the phone's drawing says the same
    assert states["Completed"] == "final"
    assert states["PublishSuccess"] == states["AnnounceCompleted"] == "succeeded"
    assert {
        states[n]
        for n in (
            "ValidateImage",
            "ExtractMetadata",
            "ResizeImage",
            "GenerateThumbnail",
            "ParallelProcessing",
            "ArchiveImage",
        )
    } == {"succeeded"}
    assert states["Rejected"] == states["HandleError"] == "pending"
    assert "from the execution history" in html
    # The full page opens the same detail server-side (works without JavaScript).
    page = web.get("/", params={"image": key})
    assert 'id="detail-heading"' in page.text
    assert "hidden>" not in page.text.split('id="detail"')[1][:200]


def test_detail_of_rejected_and_failed_images_highlight_where_they_ended(web, processed) -> None:
    rejected = web.get("/fragments/image", params={"key": processed["text"]}).text
    # Rejected by the trigger (not an image at all): no execution, so nothing is current.
    assert "UNSUPPORTED_FORMAT" in rejected
    assert "final" not in set(graph_states(rejected).values())
    failed = web.get("/fragments/image", params={"key": processed["failed"]}).text
    states = graph_states(failed)
    assert states["ProcessingFailed"] == "final"
    assert states["ResizeImage"] == "error"
    assert states["HandleError"] == states["PublishFailure"] == "succeeded"
    assert "PermanentError: PERMANENT: the resize disk is on fire" in failed
    assert '<tr data-stage="validation" data-status="COMPLETED">' in failed
    # The fault struck before resize's handler ran, so the record never saw that stage start.
    assert '<tr data-stage="resize" data-status="PENDING">' in failed
    assert web.get("/fragments/image", params={"key": "uploads/none.jpg"}).status_code == 404


def test_while_running_the_graph_highlights_the_running_states(runtime, web, local, encode) -> None:
    data = encode((320, 240), "PNG")
    ticket = web.post(
        "/api/upload-url",
        json={"fileName": "slow.png", "contentType": "image/png", "size": len(data)},
    ).json()
    key = ticket["imageKey"]
    release = threading.Event()

    def hold_resize(function_name: str, event, attempt: int) -> None:
        if function_name.endswith("-resize") and key in json.dumps(event):
            release.wait(30)

    remove = runtime.add_fault_hook(hold_resize)
    try:
        local.post_file(UploadTicket(ticket["url"], ticket["fields"], key), data, "slow.png")
        deadline = time.monotonic() + 60
        states: dict[str, str] = {}
        while time.monotonic() < deadline and states.get("ResizeImage") != "running":
            answer = web.get("/fragments/image", params={"key": key})
            states = graph_states(answer.text) if answer.status_code == 200 else {}
            time.sleep(0.1)
        html = answer.text
        assert states["ResizeImage"] == "running"
        assert states["ParallelProcessing"] == "running"
        assert states["ValidateImage"] == states["ExtractMetadata"] == "succeeded"
        assert states["ArchiveImage"] == states["PublishSuccess"] == "pending"
        assert 'data-state="ResizeImage" data-status="running"' in html
        assert "The execution is in " in html
        # The thumbnail shows as soon as its stage is done, while resize still holds the image.
        while time.monotonic() < deadline:
            thumbnail = local.record(key).stages.get(StageName.THUMBNAIL)
            if thumbnail is not None and thumbnail.status.value == "COMPLETED":
                break
            time.sleep(0.1)
        row = rows(web.get("/fragments/images").text)[key]
        assert row["status"] == "PROCESSING"
        assert f'<img src="/thumbnails?key={key}"' in row["html"]
    finally:
        release.set()
        remove()
    assert local.wait_for([key], timeout=60)[key].status is ImageStatus.COMPLETED
    after = graph_states(web.get("/fragments/image", params={"key": key}).text)
    assert after["ResizeImage"] == "succeeded"
    assert after["Completed"] == "final"


def test_detail_lists_every_variant_and_serves_only_those(web, local, processed) -> None:
    key = processed["good"]
    record = local.record(key)
    html = web.get("/fragments/image", params={"key": key}).text
    assert record.variants
    assert f"(recipe {record.recipe_version})" in html
    for variant in record.variants:
        assert f'<tr data-variant="{variant.name}.{variant.format.value}">' in html
        answer = web.get(
            "/variants", params={"key": key, "name": variant.name, "format": variant.format.value}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == variant.format.content_type
        with Image.open(io.BytesIO(answer.content)) as image:
            assert image.size == (variant.width, variant.height)
    # Only what the record lists: an unknown variant or another image's key is a 404.
    missing = {"key": key, "name": "resized", "format": "avif"}
    assert web.get("/variants", params=missing).status_code == 404
    other = {"key": processed["text"], "name": "resized", "format": "jpeg"}
    assert web.get("/variants", params=other).status_code == 404


def test_placeholders_and_duplicates_are_marked(web, local, processed, encode) -> None:
    # The same bytes as the completed "good" image, uploaded again: an exact copy of it.
    again = upload(web, local, encode((640, 480), "JPEG"), "sunset again.jpg", "image/jpeg")
    assert local.wait_for([again], timeout=120)[again].status is ImageStatus.COMPLETED
    original = processed["good"]

    found = rows(web.get("/fragments/images").text)
    copy, first = found[again]["html"], found[original]["html"]
    for html, key in ((copy, again), (first, original)):
        record = local.record(key)
        assert f'data-thumbhash="{record.thumbhash}"' in html
        assert f'data-color="{record.dominant_color}"' in html
    assert f'data-duplicate-of="{original}"' in copy
    assert "badge--duplicate" not in first

    detail = web.get("/fragments/image", params={"key": again}).text
    assert f'data-duplicate-of="{original}"' in detail
    assert local.record(again).content_sha256 in detail
    page = web.get("/").text
    assert page.index("/static/thumbhash.js") < page.index("/static/dashboard.js")
    assert web.get("/static/thumbhash.js").status_code == 200
