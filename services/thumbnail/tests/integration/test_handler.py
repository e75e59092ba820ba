"""The thumbnail handler on moto: object written, record updated, event and notification sent."""

from __future__ import annotations

from qip_shared.enums import StageName
from qip_shared.keys import thumbnail_key
from qip_shared.pipeline import ThumbnailOutput
from qip_shared.testing.image_stage import ImageStageHandlerChecks
from qip_thumbnail import handler
from qip_thumbnail.errors import RecordNotFoundError, UndecodableImageError


class TestThumbnailHandler(ImageStageHandlerChecks):
    """Any source becomes an exact 200x200 centre crop."""

    HANDLER = handler
    STAGE = StageName.THUMBNAIL
    OUTPUT = ThumbnailOutput
    OUTPUT_ATTR = "thumbnail_key"
    KEY_FIELD = "thumbnailKey"
    KEY_OF = staticmethod(thumbnail_key)
    SIZE = (200, 200)
    FUNCTION = "qip-thumbnail"
    CORE = "render_thumbnails"
    UNDECODABLE = UndecodableImageError
    RECORD_NOT_FOUND = RecordNotFoundError
