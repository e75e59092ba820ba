"""QIP shared: the contracts two packages must agree on, and the small runtime every function ships.

Shipped: contracts (`enums`, `record`, `events`, `pipeline`, `keys`, `config`), the Lambda
boundary and stage runtime (`boundary`, `stage`, `aws`) and imaging. Never shipped (the bundler
leaves them out, a built-bundle test checks): the CDK base `cdk` and the pytest fixtures `testing`.
"""

from qip_shared.enums import (
    EVENT_SOURCE,
    EventDetailType,
    ImageFormat,
    ImageStatus,
    NotificationType,
    RejectionReason,
    StageName,
    StageStatus,
)
from qip_shared.errors import InvalidImageError, PermanentError, QipError, RetryableError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import (
    ArchiveOutput,
    ExifSummary,
    GpsCoordinates,
    ImageMetadata,
    MetadataOutput,
    PipelineInput,
    PipelineState,
    ResizeOutput,
    TaskError,
    ThumbnailOutput,
    ValidateOutput,
)
from qip_shared.record import ImageRecord, StageInfo, Stages

__all__ = [
    "EVENT_SOURCE",
    "ArchiveOutput",
    "EventDetailType",
    "ExifSummary",
    "GpsCoordinates",
    "ImageFormat",
    "ImageMetadata",
    "ImageRecord",
    "ImageStatus",
    "InvalidImageError",
    "MetadataOutput",
    "Notification",
    "NotificationType",
    "PermanentError",
    "PipelineInput",
    "PipelineState",
    "ProcessingEvent",
    "ProcessingEventDetail",
    "QipError",
    "RejectionReason",
    "ResizeOutput",
    "RetryableError",
    "StageInfo",
    "StageName",
    "StageStatus",
    "Stages",
    "TaskError",
    "ThumbnailOutput",
    "ValidateOutput",
]
