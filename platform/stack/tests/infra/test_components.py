"""Component constructs group resources without renaming them in the template."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from qip_platform.component import Component, FlatIdStack


def _logical_ids(stack: Stack) -> set[str]:
    return set(Template.from_stack(stack).to_json()["Resources"])


def test_a_component_leaves_the_logical_ids_of_the_flat_stack() -> None:
    app = App()
    flat = Stack(app, "Flat")
    sqs.Queue(flat, "Queue")
    sqs.Queue(flat, "Nested")
    grouped = FlatIdStack(app, "Grouped")
    part = Component(grouped, "Part")
    sqs.Queue(part, "Queue")
    sqs.Queue(part, "Nested")
    assert _logical_ids(grouped) == _logical_ids(flat)
    assert len(_logical_ids(flat)) == 2


def test_two_components_may_not_hold_the_same_id() -> None:
    app = App()
    stack = FlatIdStack(app, "Clash")
    sqs.Queue(Component(stack, "One"), "Queue")
    sqs.Queue(Component(stack, "Two"), "Queue")
    with pytest.raises(Exception, match="would share the logical id"):
        Template.from_stack(stack)
