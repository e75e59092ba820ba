"""moto agrees with AWS where the pipeline races it: a POST upload is announced complete."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import requests
from moto.s3 import notifications

from qip_local.moto_fidelity import atomic_uploads

BUCKET = "uploads"


@pytest.fixture
def s3(aws: None) -> Any:
    """A bucket in moto that sends its events to EventBridge."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    return client


@pytest.fixture
def seen_at_event(s3: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The object's content type, as a reader asks S3, at the moment each S3 event is sent."""
    seen: list[str] = []
    send_event = notifications.send_event

    def spy(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        seen.append(s3.head_object(Bucket=bucket.name, Key=key.name)["ContentType"])
        send_event(account_id, event_name, bucket, key)

    monkeypatch.setattr(notifications, "send_event", spy)
    return seen


def _post_upload(s3: Any, key: str) -> None:
    form = s3.generate_presigned_post(
        BUCKET,
        key,
        Fields={"Content-Type": "image/gif"},
        Conditions=[["eq", "$Content-Type", "image/gif"]],
    )
    answer = requests.post(
        form["url"], data=form["fields"], files={"file": b"GIF89a..."}, timeout=10
    )
    assert answer.status_code == 204


def test_moto_alone_announces_an_upload_before_its_metadata(
    s3: Any, seen_at_event: list[str]
) -> None:
    _post_upload(s3, "a.gif")
    # If this fails, moto sets the metadata first now and `atomic_uploads` can go.
    assert seen_at_event == ["binary/octet-stream"]


def test_an_upload_is_announced_with_its_content_type(s3: Any, seen_at_event: list[str]) -> None:
    with atomic_uploads():
        _post_upload(s3, "a.gif")
        s3.put_object(Bucket=BUCKET, Key="b.gif", Body=b"GIF89a", ContentType="image/gif")
    assert len(seen_at_event) >= 2
    assert set(seen_at_event) == {"image/gif"}
    _post_upload(s3, "c.gif")  # the patch is undone on exit
    assert seen_at_event[-1] == "binary/octet-stream"
