"""The AWS calls archive makes: the shared stage calls, plus server-side copies and the delete."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qip_archive.core import PlannedCopy
from qip_shared.aws import StageAdapters, from_aws_error, version_args
from qip_shared.duplicates import BAND_ATTRIBUTES, Candidate, hash_bands
from qip_shared.enums import ImageStatus
from qip_shared.record import (
    BAND_INDEX_NAMES,
    CONTENT_HASH_ATTRIBUTE,
    CONTENT_HASH_INDEX_NAME,
)

MAX_CANDIDATES_PER_INDEX = 100
"""A band value shared by more COMPLETED images than this is too common to tell copies apart."""


class Adapters(StageAdapters):
    """boto3 clients and settings; built once per process, or injected by tests."""

    def copy(self, planned: PlannedCopy) -> None:
        """One server-side copy into the archive (the bytes never leave S3)."""
        try:
            self.s3.copy_object(**planned.copy_request())
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, f"s3 copy_object ({planned.kind.value})") from err

    def delete_upload(self, bucket: str, key: str, version_id: str | None) -> None:
        """Delete the archived upload (that exact version when the bucket is versioned)."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key, **version_args(version_id)}
        try:
            self.s3.delete_object(**request)
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "s3 delete_object") from err

    def find_copies(
        self, content_sha256: str | None, perceptual_hash: str | None
    ) -> list[Candidate]:
        """COMPLETED images with the same content hash, or sharing a perceptual-hash band."""
        candidates: list[Candidate] = []
        if content_sha256:
            candidates += self._completed(
                CONTENT_HASH_INDEX_NAME, CONTENT_HASH_ATTRIBUTE, content_sha256, exact=True, limit=1
            )
        if perceptual_hash:
            for index, attribute, band in zip(
                BAND_INDEX_NAMES, BAND_ATTRIBUTES, hash_bands(perceptual_hash), strict=True
            ):
                candidates += self._completed(
                    index, attribute, band, exact=False, limit=MAX_CANDIDATES_PER_INDEX
                )
        return candidates

    def _completed(
        self, index: str, attribute: str, value: str, *, exact: bool, limit: int
    ) -> list[Candidate]:
        """Up to `limit` COMPLETED items of `index` with `attribute` = `value`, oldest first."""
        request: dict[str, Any] = {
            "TableName": self.settings.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#key = :value",
            "FilterExpression": "#status = :completed",
            "ExpressionAttributeNames": {"#key": attribute, "#status": "status"},
            "ExpressionAttributeValues": {
                ":value": {"S": value},
                ":completed": {"S": ImageStatus.COMPLETED.value},
            },
            "ScanIndexForward": True,  # sort key uploadTimestamp: the earliest first
        }
        found: list[Candidate] = []
        try:
            while len(found) < limit:
                response = self.dynamodb.query(**request)
                found += [Candidate.from_item(item, exact=exact) for item in response["Items"]]
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, f"dynamodb query {index}") from err
        return sorted(found, key=lambda c: (c.upload_timestamp, c.image_key))[:limit]
