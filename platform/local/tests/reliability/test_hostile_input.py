"""Hostile input (issue 8): bombs refused from the header with the validate process's peak RSS
growing < 50 MB; keys and client names that try to escape never leave uploads/ nor write
outside processed/{id}/; uploads that break the POST policy anyway are REJECTED by the trigger.

Every corpus file through the whole pipeline is `platform/tests/system/test_system_corpus.py`;
the decoded POST policy (key, type and size pinned) is upload-url's
`tests/integration/test_presigned_post.py`. Not repeated here.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qip_local.client import UploadRefusedError
from qip_shared.enums import ImageStatus, RejectionReason
from qip_shared.keys import image_id_from_key

MAX_BYTES = 300_000  # small, so an oversize upload is cheap to make
SYSTEM_CONFIG = {"environment": {"QIP_MAX_BYTES": str(MAX_BYTES)}}
MB = 1024 * 1024
OUR_KEY = re.compile(r"^uploads/\d{4}/\d{2}/\d{2}/[0-9a-f-]{36}\.(png|jpg|gif|webp)$")
FINDINGS: dict[str, list[tuple[str, str]]] = {}

# -- bombs: peak RSS of a validate process ---------------------------------------------------

RSS_PROBE = textwrap.dedent(
    """
    import json, sys
    from qip_validate.core import validate_image
    from qip_shared.errors import InvalidImageError

    def status_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 100_000_000}
    validate_image(open(sys.argv[2], "rb").read(), **LIMITS)  # warm: plugins loaded
    data = open(sys.argv[1], "rb").read()
    # Peak after minus resident before: an upper bound on what validating allocated.
    before = status_kb("VmRSS")
    try:
        validate_image(data, **LIMITS)
        outcome = "ACCEPTED"
    except InvalidImageError as exc:
        outcome = exc.reason.value
    print(json.dumps({"outcome": outcome, "growth_kb": status_kb("VmHWM") - before}))
    """
)


def gif_flood(size: tuple[int, int], frames: int) -> bytes:
    """A GIF whose header is `size` with `frames` tiny frames (thousands cost a few KB)."""
    width, height = size
    head = b"GIF89a" + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    head += bytes([0x80, 0, 0]) + b"\x00\x00\x00\xff\xff\xff"  # 2-colour global table
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        + b"\x2c\x00\x00\x00\x00"
        + width.to_bytes(2, "little")
        + height.to_bytes(2, "little")
        + b"\x00\x02\x02\x4c\x01\x00"  # LZW min size 2, one block: clear + end
    )
    return head + frame * frames + b"\x3b"


def webp_flood(size: tuple[int, int], frames: int) -> bytes:
    """An animated WebP with its one real frame repeated `frames` times."""
    first = Image.new("RGB", size, (200, 30, 30))
    second = Image.new("RGB", size, (30, 200, 30))  # different, so Pillow keeps two frames
    buffer = io.BytesIO()
    first.save(buffer, "WEBP", save_all=True, append_images=[second], duration=50)
    data = buffer.getvalue()
    chunks, pos, anmf = [], 12, b""
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunk = data[pos : pos + 8 + length + (length & 1)]
        if chunk[:4] == b"ANMF" and not anmf:
            anmf = chunk
        elif chunk[:4] != b"ANMF":
            chunks.append(chunk)
        pos += 8 + length + (length & 1)
    assert anmf, "Pillow wrote no animation frame"
    body = b"WEBP" + b"".join(chunks) + anmf * frames
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF header claims `width` x `height`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


@pytest.fixture(scope="module")
def bombs(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Corpus bombs and generated ones, as files."""
    folder = tmp_path_factory.mktemp("bombs")
    generated = {
        "gif-400x400-5000-frames.gif": gif_flood((400, 400), 5000),
        "webp-200x200-4000-frames.webp": webp_flood((200, 200), 4000),
        "jpeg-claiming-65500x65500.jpg": jpeg_claiming(65500, 65500),
    }
    files = {
        name: corpus_dir / name
        for name in (
            "bomb-30000x30000.png",
            "flood-12000x12000.png",
            "65536-uint32-limit.png",
            "heic-claims-40000x40000.heic",
        )
    }
    for name, data in generated.items():
        (folder / name).write_bytes(data)
        files[name] = folder / name
    # A control: an honest 12 MP image, whose decode the probe must see (~36 MB).
    control = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 90, 90)).save(control, "PNG")
    (folder / "control.png").write_bytes(control.getvalue())
    files["_control"] = folder / "control.png"
    warm = io.BytesIO()
    Image.new("RGB", (8, 8)).save(warm, "PNG")
    (folder / "warm.png").write_bytes(warm.getvalue())
    files["_warm"] = folder / "warm.png"
    return files


def test_bombs_are_refused_with_validate_peak_rss_growing_under_50_mb(
    bombs: dict[str, Path],
) -> None:
    results = {}
    for name, path in bombs.items():
        if name == "_warm":
            continue
        answer = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(path), str(bombs["_warm"])],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        results[name] = json.loads(answer.stdout.strip().splitlines()[-1])
    control = results.pop("_control")
    assert control["outcome"] == "ACCEPTED"
    assert control["growth_kb"] * 1024 > 20 * MB, control  # the probe does see a decode
    for name, result in results.items():
        assert result["outcome"] == RejectionReason.TOO_MANY_PIXELS.value, (name, result)
        assert result["growth_kb"] * 1024 < 50 * MB, (name, result)
    FINDINGS["bombs"] = [
        (name, f"REJECTED {r['outcome']}, peak RSS +{r['growth_kb'] / 1024:.1f} MB")
        for name, r in sorted(results.items())
    ]
    FINDINGS["bombs"].append(
        (
            "control: an honest 4000x3000 PNG, same probe",
            f"ACCEPTED, peak RSS +{control['growth_kb'] / 1024:.1f} MB (the probe sees a decode)",
        )
    )


# -- keys that try to escape ----------------------------------------------------------------

OUTSIDE_UPLOADS = [
    "processed/victim/resized.jpg",
    "archive/2026/11/26/victim/original.png",
    "escape.png",
    "../uploads/escape.png",
    "/uploads/escape.png",
    "Uploads/escape.png",
    "uploadsX/escape.png",
    "evil/uploads/escape.png",
]
HOSTILE_UNDER_UPLOADS = [
    "uploads/../processed/victim/resized.jpg",
    "uploads/..%2F..%2Fprocessed%2Fvictim%2Fthumbnail.jpg",
    "uploads/..\\..\\processed\\victim.png",
    "uploads//absolute/etc/passwd.png",
    "uploads/" + "a" * 900 + ".png",
    "uploads/\u202egnp.exe",
    "uploads/\uff0e\uff0e\uff0fprocessed/fullwidth.png",
    "uploads/control\u0001byte.png",
]


def test_objects_outside_uploads_or_under_hostile_keys_stay_in_their_lane(
    system: Any, kit: Any, encode_image: Callable[..., bytes]
) -> None:
    client = system.client
    s3 = system.aws("s3")
    bucket = client.resources.upload_bucket
    data = encode_image((32, 24), "PNG", seed=3)
    before = kit.all_object_keys(system)
    for key in [*OUTSIDE_UPLOADS, *HOSTILE_UNDER_UPLOADS]:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
    records = client.wait_for(HOSTILE_UNDER_UPLOADS, timeout=60)
    # The outside objects produced events too (the rule filters them): let the queue drain.
    assert kit.wait_until(
        lambda: (
            not system.aws("sqs")
            .receive_message(QueueUrl=client.resources.queue_url, VisibilityTimeout=0)
            .get("Messages")
        ),
        timeout=20,
    )
    after = kit.all_object_keys(system)
    ledger = kit.take_ledger(system)
    endings = []
    for key in OUTSIDE_UPLOADS:
        assert key not in ledger.records, key  # never started any work
        endings.append((f"`{key}` (put by hand)", "ignored: no record, no execution"))
    allowed_upload = set(before[bucket]) | set(OUTSIDE_UPLOADS) | set(HOSTILE_UNDER_UPLOADS)
    archive_bucket = client.resources.archive_bucket
    allowed_archive = set(before[archive_bucket])
    for key in HOSTILE_UNDER_UPLOADS:
        record = records[key]
        assert record is not None, key
        assert record.image_key == key  # the literal key, never a decoded or normalised one
        image_id = image_id_from_key(key)
        assert "/" not in image_id
        assert ".." not in image_id
        assert all(c.isascii() and c.isprintable() for c in image_id), image_id
        for bucket_name, found in after.items():
            for written in found:
                if image_id in written:
                    if bucket_name == bucket:
                        assert written.startswith(f"processed/{image_id}/"), written
                        allowed_upload.add(written)
                    else:
                        assert re.fullmatch(
                            rf"archive/\d{{4}}/\d{{2}}/\d{{2}}/{re.escape(image_id)}/[a-z.]+",
                            written,
                        ), written
                        allowed_archive.add(written)
        shown = key if len(key) < 60 else key[:40] + f"…({len(key)} chars)"
        endings.append(
            (
                f"`{shown!r}` (put by hand)",
                f"{record.status.value}; outputs only under `processed/{image_id[:24]}…/`",
            )
        )
    # Nothing written anywhere else: no new key outside the lanes above.
    assert set(after[bucket]) - allowed_upload == set()
    assert set(after[archive_bucket]) - allowed_archive == set()
    assert set(ledger.records) - set(HOSTILE_UNDER_UPLOADS) - before[bucket] == set()
    FINDINGS["keys"] = endings


HOSTILE_NAMES = [
    "../../etc/passwd.png",
    "/absolute/path.png",
    "..\\..\\windows.png",
    "nul\x00byte.png",
    "x" * 5000 + ".png",
    "\u202egnp.exe.png",
    "%2e%2e%2f%2e%2e%2fescape.png",
    "processed/victim/resized.png",
]


def test_client_names_never_choose_the_key(system: Any, encode_image: Callable[..., bytes]) -> None:
    client = system.client
    data = encode_image((30, 20), "PNG", seed=5)
    keys, endings, refusals = {}, [], []
    for name in HOSTILE_NAMES:
        shown = repr(name if len(name) < 40 else name[:20] + f"…({len(name)} chars)")
        try:
            ticket = client.request_upload(content_type="image/png", size=len(data), file_name=name)
        except UploadRefusedError as refused:
            refusals.append(refused.status)
            endings.append((f"file name {shown}", f"refused by upload-url: {refused.code}"))
            continue
        assert OUR_KEY.match(ticket.image_key), (name, ticket.image_key)
        client.post_file(ticket, data, "upload.png")
        keys[ticket.image_key] = shown
    assert set(refusals) <= {400}, refusals
    records = client.wait_for(list(keys), timeout=60)
    for key, shown in keys.items():
        record = records[key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED
        assert record.resized_key.startswith(f"processed/{image_id_from_key(key)}/")
        endings.append((f"file name {shown}", f"key `{key[:28]}…`, COMPLETED"))
    FINDINGS["names"] = endings


# -- uploads that break the POST policy anyway (moto does not enforce it) -------------------


def test_uploads_breaking_the_post_policy_are_rejected_by_the_trigger(
    system: Any, kit: Any, report: Any
) -> None:
    client = system.client
    small = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(small, "PNG")
    noise = Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3))
    big = io.BytesIO()
    noise.save(big, "PNG")
    assert len(big.getvalue()) > MAX_BYTES
    cases = {
        "oversize: a ticket for a small PNG, then a larger body": (
            big.getvalue(),
            {},
            RejectionReason.TOO_LARGE,
        ),
        "wrong type: a ticket for image/png, posted as text/html": (
            b"<html><script>alert(1)</script></html>",
            {"Content-Type": "text/html"},
            RejectionReason.UNSUPPORTED_FORMAT,
        ),
        "wrong type: a ticket for image/png, posted as application/x-msdownload": (
            small.getvalue(),
            {"Content-Type": "application/x-msdownload"},
            RejectionReason.UNSUPPORTED_FORMAT,
        ),
    }
    keys = {}
    for case, (body, changed, _reason) in cases.items():
        ticket = client.request_upload(
            content_type="image/png", size=len(small.getvalue()), file_name="p.png"
        )
        ticket.fields.update(changed)
        client.post_file(ticket, body, "p.png")
        keys[case] = ticket.image_key
    records = client.wait_for(list(keys.values()), timeout=60)
    endings = []
    for case, key in keys.items():
        record = records[key]
        assert record is not None
        assert record.status is ImageStatus.REJECTED, case
        assert record.rejection_reason is cases[case][2], case
        assert record.execution_arn is None  # refused before any work started
        assert system.journal.history(key) == ["UPLOADED", "REJECTED"]
        endings.append((case, f"REJECTED {record.rejection_reason.value} by the trigger"))
    kit.assert_nothing_lost(kit.take_ledger(system))
    FINDINGS["policy"] = endings

    rows = [
        *FINDINGS.get("bombs", []),
        *FINDINGS.get("keys", []),
        *FINDINGS.get("names", []),
        *FINDINGS.get("policy", []),
    ]
    report.add(
        "hostile",
        """
## Hostile input

Every corpus file through the whole pipeline (its manifest status, reason and output geometry)
is `platform/tests/system/test_system_corpus.py`; the decoded POST policy is upload-url's
`tests/integration/test_presigned_post.py`. Here: bombs in a separate validate process
(peak RSS `VmHWM` after, minus resident `VmRSS` before, after a warm-up: an upper bound on
what validating allocated), objects put by hand outside `uploads/` or under hostile keys,
hostile client file names, and uploads that break the POST policy anyway. Objects under
`uploads/` are processed whatever their key (the trigger accepts any key below the prefix,
not only upload-url's `uploads/yyyy/mm/dd/{uuid}.{ext}`); their outputs stay in
`processed/{id}/`, with `{id}` sanitised and hashed.

"""
        + report.table(("bad input", "how it ended"), rows),
    )
