"""The resize handler on moto: object written, record updated, event and notification sent."""

from __future__ import annotations

from qip_resize import handler
from qip_resize.errors import RecordNotFoundError, UndecodableImageError
from qip_shared.enums import StageName
from qip_shared.keys import resized_key
from qip_shared.pipeline import ResizeOutput
from qip_shared.testing.image_stage import ImageStageHandlerChecks


class TestResizeHandler(ImageStageHandlerChecks):
    """A 1600x1200 upright source fits 1024x768 exactly."""

    HANDLER = handler
    STAGE = StageName.RESIZE
    OUTPUT = ResizeOutput
    OUTPUT_ATTR = "resized_key"
    KEY_FIELD = "resizedKey"
    KEY_OF = staticmethod(resized_key)
    SIZE = (1024, 768)
    FUNCTION = "qip-resize"
    CORE = "render_resize"
    UNDECODABLE = UndecodableImageError
    RECORD_NOT_FOUND = RecordNotFoundError
