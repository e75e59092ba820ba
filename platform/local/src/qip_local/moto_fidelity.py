"""Where moto answers differently from AWS in a way the pipeline can see, and the local fix.

`qip_local.moto_patches` makes moto safe and quick; this module makes it agree with AWS where a
consumer racing moto would otherwise see a state AWS never shows. Each fix is a context manager
the local runtime enters, with a test that shows moto's own behaviour and the fixed one.
"""

# moto is imported only when the fix is applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def atomic_uploads() -> Iterator[None]:
    """An uploaded object is announced only once it carries its metadata, as in S3.

    moto's POST-object and PUT-object handlers store the object, which sends its S3 event
    notifications there and then, and only afterwards set the request's metadata (Content-Type
    among it). The trigger, woken by that event under load, could read the object in between
    and see S3's default `binary/octet-stream`, rejecting a good image as UNSUPPORTED_FORMAT.
    Here the events of an upload are held until its handler has finished, then sent in order.
    """
    from moto.s3 import notifications
    from moto.s3.responses import S3Response

    held = threading.local()
    send_event = notifications.send_event
    handlers = {name: getattr(S3Response, name) for name in ("_bucket_response_post", "put_object")}

    def send_or_hold(*args: Any, **kwargs: Any) -> None:
        pending = getattr(held, "events", None)
        if pending is None:
            send_event(*args, **kwargs)
        else:
            pending.append((args, kwargs))

    def holding(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def store_then_announce(*args: Any, **kwargs: Any) -> Any:
            held.events = []
            try:
                return handler(*args, **kwargs)
            finally:
                pending, held.events = held.events, None
                for event_args, event_kwargs in pending:
                    send_event(*event_args, **event_kwargs)

        return store_then_announce

    notifications.send_event = send_or_hold
    for name, handler in handlers.items():
        setattr(S3Response, name, holding(handler))
    try:
        yield
    finally:
        notifications.send_event = send_event
        for name, handler in handlers.items():
            setattr(S3Response, name, handler)
