"""The building blocks of the stack: transparent component constructs and one-statement grants.

A `Component` groups resources in the construct tree but not in their CloudFormation logical
ids: `FlatIdStack` allocates every id from the path without the components, so a deployed
stack keeps its resources (buckets, table) when the code that makes them moves between parts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from qip_shared import config
from qip_shared.recipe import DEFAULT_RECIPE, Recipe

# CDK's own naming scheme (core/lib/private/uniqueid.ts), applied to the flattened path.
_HIDDEN_ID = "Default"
_HIDDEN_FROM_HUMAN_ID = "Resource"
_HASH_LENGTH = 8
_MAX_HUMAN_LENGTH = 240
_MAX_ID_LENGTH = 255

PREFIX_REASON = (
    "An object-key prefix of the one bucket this function uses (uploads/*, processed/* or "
    "archive/*): object names are chosen at run time, so the prefix is the narrowest resource S3 "
    "offers."
)


@dataclass(frozen=True)
class StackSettings:
    """Deployment settings that reach the functions through their environment."""

    max_bytes: int = config.DEFAULT_MAX_BYTES
    max_pixels: int = config.DEFAULT_MAX_PIXELS
    store_gps: bool = False
    delete_upload: bool = False
    upload_url_expires: int = config.DEFAULT_UPLOAD_URL_EXPIRES
    record_ttl_days: int | None = None
    # Browser origins allowed to call the APIs and POST uploads; none by default (the local
    # dashboard talks to the embedded AWS, not to a deployed stack).
    cors_origins: tuple[str, ...] = ()
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    # Who the alarms reach: e-mail addresses and HTTPS endpoints subscribed to the alarm topic.
    alarm_emails: tuple[str, ...] = ()
    alarm_urls: tuple[str, ...] = ()
    # What resize and thumbnail render; stored in an SSM parameter they read at start.
    recipe: Recipe = DEFAULT_RECIPE


class Component(Construct):
    """A part of the stack (storage, ingest, ...): a construct its resources' ids do not name."""


def unique_id(components: list[str]) -> str:
    """CDK's logical id for a path below the stack (`makeUniqueId`)."""
    components = [c for c in components if c != _HIDDEN_ID]
    if len(components) == 1:
        candidate = re.sub(r"[^A-Za-z0-9]", "", components[0])
        if len(candidate) <= _MAX_ID_LENGTH:
            return candidate
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()
    deduplicated: list[str] = []
    for component in components:
        if not deduplicated or not deduplicated[-1].endswith(component):
            deduplicated.append(component)
    human = "".join(
        re.sub(r"[^A-Za-z0-9]", "", c) for c in deduplicated if c != _HIDDEN_FROM_HUMAN_ID
    )
    return human[:_MAX_HUMAN_LENGTH] + digest[:_HASH_LENGTH].upper()


class FlatIdStack(Stack):
    """A stack whose logical ids leave out its `Component` scopes (and reject a clash)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        self._paths_by_logical_id: dict[str, str] = {}
        super().__init__(scope, construct_id, **kwargs)

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        scopes = cfn_element.node.scopes
        below = scopes[next(i for i, s in enumerate(scopes) if s is self) + 1 :]
        logical_id = unique_id([s.node.id for s in below if not isinstance(s, Component)])
        path = cfn_element.node.path
        if self._paths_by_logical_id.setdefault(logical_id, path) != path:
            other = self._paths_by_logical_id[logical_id]
            raise ValueError(f"{path} and {other} would share the logical id {logical_id}")
        return logical_id

    def logical_id_of(self, construct: IConstruct) -> str:
        """The logical id of a construct's CloudFormation resource (as cdk-nag names it)."""
        child = construct.node.default_child
        assert isinstance(child, CfnElement)
        return self.resolve(child.logical_id)  # type: ignore[no-any-return]


def allow(fn: lambda_.IFunction, sid: str, actions: list[str], resources: list[str]) -> None:
    """One statement on the function's role: these actions on these resources."""
    fn.add_to_role_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))


def allow_objects(
    fn: lambda_.Function, sid: str, actions: list[str], bucket: s3.IBucket, prefix: str
) -> None:
    """Actions on the objects under one key prefix of one bucket (never the whole bucket)."""
    allow(fn, sid, actions, [bucket.arn_for_objects(f"{prefix}*")])
    assert fn.role is not None
    stack = Stack.of(fn)
    assert isinstance(stack, FlatIdStack)
    finding = f"AwsSolutions-IAM5[Resource::<{stack.logical_id_of(bucket)}.Arn>/{prefix}*]"
    Validations.of(fn.role).acknowledge(Acknowledgment(id=finding, reason=PREFIX_REASON))
