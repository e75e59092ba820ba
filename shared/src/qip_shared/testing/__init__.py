"""Test helpers shared by the services' suites (extra `testing`; never shipped in a Lambda)."""

import pytest

# Plain asserts in these helpers report their operands like assertions in a test module.
pytest.register_assert_rewrite(
    "qip_shared.testing.cdk", "qip_shared.testing.images", "qip_shared.testing.image_stage"
)
