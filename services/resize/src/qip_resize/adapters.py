"""The AWS calls resize makes: the shared stage calls, the recipe and the variant writes."""

from __future__ import annotations

from qip_shared.recipe_store import RenderingAdapters


class Adapters(RenderingAdapters):
    """boto3 clients and settings; built once per process, or injected by tests."""
