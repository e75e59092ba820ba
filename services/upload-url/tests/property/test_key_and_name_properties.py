"""Properties of the upload-url core over arbitrary client input.

Not one of the design's 12 properties: these check issue 4's upload-url lines ("the object key
is made by the server ... no client input can choose or escape the key prefix"; "the client's
file name is kept only as sanitized metadata") and the Requirement 1 upload path.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from qip_shared.enums import CONTENT_TYPES
from qip_shared.errors import ApiError
from qip_upload_url import core

LIMIT = 10 * 1024 * 1024
KEY_LAYOUT = re.compile(
    r"uploads/(\d{4})/(\d{2})/(\d{2})/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"\.(jpg|png|gif|webp|heic|heif|avif)"
)
TRICKS = [
    "../",
    "..\\",
    "/",
    "\\",
    "\x00",
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\uff0f",
    "\uff0e\uff0e\uff0f",
    "\u2215",
    "\r\n",
    "%2e%2e%2f",
    "uploads/",
    "processed/",
    "😀",
    "e\u0301",
    "\ud800",
    " ",
    ".",
]
hostile_text = st.lists(st.one_of(st.sampled_from(TRICKS), st.text(max_size=20)), max_size=40).map(
    "".join
)
long_text = st.integers(min_value=0, max_value=3000).flatmap(
    lambda n: st.sampled_from(["a", "é", "😀", "/", ".", "\u202e"]).map(lambda c: c * n)
)
file_names = st.one_of(hostile_text, long_text, st.text())
content_types = st.one_of(
    st.sampled_from(list(CONTENT_TYPES.values())),
    st.sampled_from(list(CONTENT_TYPES.values())).map(lambda t: f" {t.upper()}; q=1"),
    st.text(max_size=40),
)
sizes = st.one_of(
    st.integers(min_value=-5, max_value=LIMIT + 5),
    st.integers(),
    st.text(max_size=10),
    st.none(),
    st.booleans(),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


def _parse(
    params: dict[str, object], limit: int
) -> tuple[core.UploadRequest | None, ApiError | None]:
    try:
        return core.parse_upload_request(params, max_bytes=limit), None
    except ApiError as error:
        return None, error


def _is_clean(name: str) -> bool:
    return all(
        unicodedata.category(char)[0] != "C" and unicodedata.category(char) not in ("Zl", "Zp")
        for char in name
    )


# Issue 4 (upload-url): for ANY client file name, content type and size, either the request is
# refused with a 4xx, or the key is server-made: `uploads/yyyy/mm/dd/{uuid}.{ext}`, no `..`.
@given(
    file_name=file_names,
    content_type=content_types,
    size=sizes,
    moment=moments,
    image_uuid=st.uuids(),
    extra_key=st.one_of(st.none(), hostile_text),
)
def test_key_is_always_server_made(
    file_name, content_type, size, moment, image_uuid, extra_key
) -> None:
    params = {"contentType": content_type, "size": size, "fileName": file_name}
    if extra_key is not None:
        params["key"] = extra_key
    request, error = _parse(params, LIMIT)
    if error is not None:
        assert 400 <= error.status < 500
        return
    assert request is not None
    plan = core.plan_upload(request, now=moment, image_uuid=image_uuid, max_bytes=LIMIT)
    assert plan.key.startswith("uploads/")
    match = KEY_LAYOUT.fullmatch(plan.key)
    assert match is not None
    assert match.groups()[:3] == (f"{moment:%Y}", f"{moment:%m}", f"{moment:%d}")
    assert str(image_uuid) in plan.key
    assert ".." not in plan.key
    assert plan.key.rsplit(".", 1)[1] == request.fmt.extension
    # The policy pins exactly that key's type and the size range, whatever was asked.
    assert {"Content-Type": request.content_type} in plan.conditions
    assert ["content-length-range", 1, LIMIT] in plan.conditions


# Issue 4 (upload-url): the file name survives only as sanitised metadata: a base name with no
# path separators, controls, bidi or zero-width marks; NFKC; bounded; ASCII in the header.
@given(raw=file_names)
def test_original_name_is_sanitised_metadata(raw: str) -> None:
    name = core.sanitize_file_name(raw)
    if name is None:
        return
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert name not in (".", "..")
    assert name == name.strip(" .")
    assert _is_clean(name)
    assert unicodedata.normalize("NFKC", name) == name
    assert len(name) <= core.MAX_ORIGINAL_NAME_CHARS
    encoded = core.encode_original_name(name)
    assert encoded.isascii()
    assert all(32 <= ord(char) < 127 for char in encoded)
    assert len(encoded) <= core.MAX_ORIGINAL_NAME_BYTES
    assert core.decode_original_name(encoded) == name
    # Sanitising is idempotent: what we store is already in its final form.
    assert core.sanitize_file_name(name) == name


# Issue 4 (upload-url): a declared size over the limit is always refused (413), one within it
# (1..limit) never is for that reason.
@given(size=st.integers(min_value=-(2**40), max_value=2**40), limit=st.integers(1, 2**31))
def test_size_limit(size: int, limit: int) -> None:
    params = {"contentType": "image/png", "size": size}
    request, error = _parse(params, limit)
    if error is not None:
        assert error.code == ("TOO_LARGE" if size > limit else "BAD_REQUEST")
        assert size > limit or size < 1
        return
    assert request is not None
    assert 1 <= request.size <= limit


def test_uuid_strategy_sanity() -> None:
    # The layout regex must accept what upload_key produces for a random uuid4.
    plan = core.plan_upload(
        core.parse_upload_request({"contentType": "image/jpeg", "size": 1}, max_bytes=LIMIT),
        now=datetime.now(UTC),
        image_uuid=uuid.uuid4(),
        max_bytes=LIMIT,
    )
    assert KEY_LAYOUT.fullmatch(plan.key)
