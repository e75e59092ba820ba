"""Unit tests of the pure upload-url core: validation, file-name sanitising, the policy plan."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from qip_shared.enums import ImageFormat
from qip_shared.errors import BadRequestError
from qip_upload_url import core
from qip_upload_url.errors import TooLargeError, UnsupportedContentTypeError

LIMIT = 10 * 1024 * 1024
MOMENT = datetime(2025, 11, 30, 23, 59, 59, tzinfo=UTC)
UUID = uuid.UUID("12345678-1234-5678-9abc-123456789abc")


def parse(**params: object) -> core.UploadRequest:
    return core.parse_upload_request(params, max_bytes=LIMIT)


# --- request validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("image/jpeg", ImageFormat.JPEG),
        ("image/png", ImageFormat.PNG),
        ("image/gif", ImageFormat.GIF),
        ("image/webp", ImageFormat.WEBP),
        ("image/heic", ImageFormat.HEIC),
        ("image/heif", ImageFormat.HEIF),
        ("image/avif", ImageFormat.AVIF),
        ("Image/HEIC; q=1", ImageFormat.HEIC),
        (" IMAGE/PNG ", ImageFormat.PNG),
    ],
)
def test_accepted_content_types_are_canonicalised(content_type: str, fmt: ImageFormat) -> None:
    request = parse(contentType=content_type, size=10)
    assert request.fmt is fmt
    assert request.content_type == fmt.content_type


@pytest.mark.parametrize(
    "content_type",
    [
        "image/svg+xml",
        "image/tiff",
        "text/html",
        "application/octet-stream",
        "png",
        "image/heic-sequence",
        "video/mp4",
    ],
)
def test_unknown_content_type_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedContentTypeError) as caught:
        parse(contentType=content_type, size=10)
    assert caught.value.status == 415
    assert caught.value.code == "UNSUPPORTED_CONTENT_TYPE"


def test_overlong_content_type_is_refused_without_parsing() -> None:
    with pytest.raises(UnsupportedContentTypeError):
        parse(contentType="image/png;" + "x" * 300, size=10)


@pytest.mark.parametrize("content_type", [None, "", "   ", 12, ["image/png"]])
def test_missing_or_non_string_content_type_is_400(content_type: object) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse(contentType=content_type, size=10)
    assert caught.value.status == 400


def test_size_at_the_limit_is_accepted_and_one_over_is_413() -> None:
    assert parse(contentType="image/png", size=LIMIT).size == LIMIT
    with pytest.raises(TooLargeError) as caught:
        parse(contentType="image/png", size=LIMIT + 1)
    assert caught.value.status == 413
    assert caught.value.code == "TOO_LARGE"


def test_size_from_a_query_string_is_parsed() -> None:
    assert parse(contentType="image/gif", size=" 2048 ").size == 2048


@pytest.mark.parametrize("size", [None, 0, -1, True, 12.5, 12.0, "12kb", "", "-5", "1e3", [1]])
def test_bad_sizes_are_400(size: object) -> None:
    with pytest.raises(BadRequestError):
        parse(contentType="image/png", size=size)


def test_file_name_must_be_a_string() -> None:
    with pytest.raises(BadRequestError):
        parse(contentType="image/png", size=1, fileName=["a.png"])


def test_file_name_is_optional_and_sanitised() -> None:
    assert parse(contentType="image/png", size=1).original_name is None
    assert parse(contentType="image/png", size=1, fileName="").original_name is None
    assert parse(contentType="image/png", size=1, fileName="../x.png").original_name == "x.png"


def test_unknown_fields_are_ignored() -> None:
    request = parse(contentType="image/png", size=1, key="../../etc/passwd", bucket="other")
    assert request == core.UploadRequest(fmt=ImageFormat.PNG, size=1, original_name=None)


@pytest.mark.parametrize("body", [None, "", "  ", "{", "[1, 2]", '"text"', "null", "1"])
def test_malformed_bodies_are_400(body: str | None) -> None:
    with pytest.raises(BadRequestError):
        core.params_from_body(body)


def test_deeply_nested_json_is_400_not_a_crash() -> None:
    with pytest.raises(BadRequestError):
        core.params_from_body("[" * 100_000 + "]" * 100_000)


def test_body_object_is_returned() -> None:
    assert core.params_from_body('{"size": 1}') == {"size": 1}


# --- file-name sanitising -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("holiday.png", "holiday.png"),
        ("../../etc/passwd", "passwd"),
        ("/absolute/path/to/img.jpg", "img.jpg"),
        ("C:\\Users\\bob\\Pictures\\cat.gif", "cat.gif"),
        ("nul\x00byte.png", "nulbyte.png"),
        ("line\nbreak\r\ttab.png", "linebreaktab.png"),
        # U+202E RIGHT-TO-LEFT OVERRIDE would display "evil.exe.png" as "evil.gnp.exe".
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("zero\u200bwidth\ufeff.png", "zerowidth.png"),
        # Fullwidth letters and the fullwidth solidus normalise (NFKC) to ASCII.
        ("\uff48\uff4f\uff4c\uff49\uff44\uff41\uff59\uff0e\uff50\uff4e\uff47", "holiday.png"),
        ("dir\uff0fname.png", "name.png"),
        ("  many   spaces\u00a0here .png  ", "many spaces here.png"),
        ("...hidden.png", "hidden.png"),
        ("café.png", "café.png"),
        ("e\u0301.png", "é.png"),
    ],
)
def test_sanitize_file_name(raw: str, expected: str) -> None:
    assert core.sanitize_file_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "..", ".", "../", "/", "\\", "\x00\x01", "\u202e", "a/.."])
def test_names_with_nothing_usable_become_none(raw: str) -> None:
    assert core.sanitize_file_name(raw) is None


def test_long_names_are_capped_and_keep_their_extension() -> None:
    name = core.sanitize_file_name("x" * 5000 + ".jpeg")
    assert name is not None
    assert len(name) == core.MAX_ORIGINAL_NAME_CHARS
    assert name.endswith(".jpeg")


def test_the_base_name_of_a_very_long_path_survives() -> None:
    assert core.sanitize_file_name("dir/" * 10_000 + "photo.webp") == "photo.webp"


def test_long_non_ascii_names_fit_the_encoded_budget() -> None:
    name = core.sanitize_file_name("😀" * 500 + ".png")
    assert name is not None
    assert name.endswith(".png")
    assert len(core.encode_original_name(name)) <= core.MAX_ORIGINAL_NAME_BYTES


def test_encoding_is_ascii_and_reversible() -> None:
    name = 'résumé 100% (final) "quoted" <tag>.png'
    encoded = core.encode_original_name(name)
    assert encoded.isascii()
    assert re.fullmatch(r"[A-Za-z0-9 !$&'()+,\-.;=@_~%]*", encoded)
    assert core.decode_original_name(encoded) == name
    assert core.encode_original_name("holiday.png") == "holiday.png"


# --- the plan -----------------------------------------------------------------------------


def test_plan_pins_key_type_size_and_name() -> None:
    request = parse(contentType="image/jpeg", size=100, fileName="Ünïcode.JPG")
    plan = core.plan_upload(request, now=MOMENT, image_uuid=UUID, max_bytes=LIMIT)
    assert plan.key == f"uploads/2025/11/30/{UUID}.jpg"
    encoded = core.encode_original_name("Ünïcode.JPG")
    assert plan.fields == {"Content-Type": "image/jpeg", "x-amz-meta-original-name": encoded}
    assert plan.conditions == [
        {"Content-Type": "image/jpeg"},
        ["content-length-range", 1, LIMIT],
        {"x-amz-meta-original-name": encoded},
    ]


def test_plan_without_a_name_has_no_metadata_condition() -> None:
    plan = core.plan_upload(
        parse(contentType="image/webp", size=1), now=MOMENT, image_uuid=UUID, max_bytes=LIMIT
    )
    assert plan.key.endswith(".webp")
    assert core.ORIGINAL_NAME_FIELD not in plan.fields
    assert all(core.ORIGINAL_NAME_FIELD not in c for c in plan.conditions if isinstance(c, dict))


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [("image/heic", "heic"), ("image/heif", "heif"), ("image/avif", "avif")],
)
def test_heif_and_avif_plans_pin_their_type_and_extension(
    content_type: str, extension: str
) -> None:
    request = parse(contentType=content_type, size=100, fileName="IMG_0001.HEIC")
    plan = core.plan_upload(request, now=MOMENT, image_uuid=UUID, max_bytes=LIMIT)
    assert plan.key == f"uploads/2025/11/30/{UUID}.{extension}"
    assert plan.fields["Content-Type"] == content_type
    assert {"Content-Type": content_type} in plan.conditions


def test_plan_key_uses_the_utc_date() -> None:
    # 23:30 in UTC-05:00 is already the next day in UTC.
    local = datetime.fromisoformat("2025-12-31T23:30:00-05:00")
    plan = core.plan_upload(
        parse(contentType="image/png", size=1), now=local, image_uuid=UUID, max_bytes=LIMIT
    )
    assert plan.key.startswith("uploads/2026/01/01/")


def test_response_carries_every_documented_field() -> None:
    plan = core.plan_upload(
        parse(contentType="image/png", size=1), now=MOMENT, image_uuid=UUID, max_bytes=LIMIT
    )
    body = core.upload_response(plan, url="https://u/", fields={"key": plan.key}, expires_in=300)
    assert body == {
        "url": "https://u/",
        "fields": {"key": plan.key},
        "key": plan.key,
        "imageKey": plan.key,
        "expiresIn": 300,
        "maxBytes": LIMIT,
        "contentType": "image/png",
    }
