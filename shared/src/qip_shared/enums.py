"""Status and name enums every package agrees on."""

from __future__ import annotations

from enum import StrEnum


class ImageStatus(StrEnum):
    """Lifecycle status of an image record."""

    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        """True for the statuses an upload ends in."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({ImageStatus.COMPLETED, ImageStatus.FAILED, ImageStatus.REJECTED})


class StageName(StrEnum):
    """Processing stages; the value is the key under `stages` in the record."""

    VALIDATION = "validation"
    METADATA = "metadata"
    RESIZE = "resize"
    THUMBNAIL = "thumbnail"
    ARCHIVE = "archive"


class StageStatus(StrEnum):
    """Status of one stage within a record."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class RejectionReason(StrEnum):
    """Stable machine codes for why an upload was refused."""

    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CORRUPT = "CORRUPT"
    TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
    TOO_LARGE = "TOO_LARGE"


class ImageFormat(StrEnum):
    """Accepted image formats (lower-case, as in the design's `format` field)."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    # HEIF containers (ISO-BMFF): HEVC-coded (phones), generic, and AV1-coded.
    HEIC = "heic"
    HEIF = "heif"
    AVIF = "avif"

    @property
    def content_type(self) -> str:
        """The MIME type of this format."""
        return CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        """The canonical file extension, without the dot."""
        return "jpg" if self is ImageFormat.JPEG else self.value

    @classmethod
    def from_content_type(cls, content_type: str) -> ImageFormat | None:
        """The format for a MIME type, or None when it is not an accepted image type."""
        base = content_type.split(";", 1)[0].strip().lower()
        for fmt, mime in CONTENT_TYPES.items():
            if mime == base:
                return fmt
        return None


CONTENT_TYPES: dict[ImageFormat, str] = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.GIF: "image/gif",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.HEIC: "image/heic",
    ImageFormat.HEIF: "image/heif",
    ImageFormat.AVIF: "image/avif",
}


class NotificationType(StrEnum):
    """`eventType` of the SNS notification message."""

    PROCESSING_STARTED = "PROCESSING_STARTED"
    STAGE_COMPLETED = "STAGE_COMPLETED"
    PROCESSING_COMPLETED = "PROCESSING_COMPLETED"
    PROCESSING_FAILED = "PROCESSING_FAILED"
    PROCESSING_REJECTED = "PROCESSING_REJECTED"


class EventDetailType(StrEnum):
    """`detail-type` of the EventBridge ProcessingEvent."""

    IMAGE_UPLOADED = "ImageUploaded"
    PROCESSING_STARTED = "ProcessingStarted"
    STAGE_COMPLETED = "StageCompleted"
    PROCESSING_COMPLETED = "ProcessingCompleted"
    PROCESSING_FAILED = "ProcessingFailed"
    IMAGE_REJECTED = "ImageRejected"


EVENT_SOURCE = "image-processor"
