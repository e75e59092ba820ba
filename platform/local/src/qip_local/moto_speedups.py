"""More of moto made quick: DynamoDB's update-expression walks and its answers' conversion.

The sibling of `qip_local.moto_patches` (which is at its size limit). Each patch is a context
manager the local runtime enters; each answers exactly what moto answers without it.
"""

# moto is imported only when the patches are applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import copy
import functools
import io
import re
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def cached_update_expressions() -> Iterator[None]:
    """Let moto's DynamoDB parse each UpdateExpression text once instead of twice per request.

    An UpdateItem tokenizes and parses its expression in the handler (to check the names and
    values it uses) and again in the backend: ~15% of its CPU. The parse depends on the text
    alone, and no reader changes the tree: the handler only collects its clauses and every
    validator works on its own deep copy (`Validator.__init__`). A text that fails to parse is
    not cached, so it raises moto's error every time.
    """
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    original = UpdateExpressionParser.__dict__["make"]
    parse = functools.lru_cache(maxsize=1024)(original.__func__)

    def make(cls: Any, expression_str: str) -> Any:
        return parse(cls, expression_str)

    UpdateExpressionParser.make = classmethod(make)
    try:
        yield
    finally:
        UpdateExpressionParser.make = original


# Where a traverser keeps its plan for the walks it makes (one per instance, per request).
_PLAN = "_qip_plan"


class _TraverserPlan:
    """A traverser's processor per node type (its map's first match) and its child hook."""

    def __init__(self, traverser: Any, base_hook: Callable[..., Any]) -> None:
        self._processing: dict[type, Callable[..., Any]] = traverser._processing_map()
        self._by_type: dict[type, Callable[..., Any] | None] = {}
        overridden = type(traverser).pre_processing_of_child is not base_hook
        self.pre_child = traverser.pre_processing_of_child if overridden else None

    def processor(self, kind: type) -> Callable[..., Any] | None:
        """What moto's `process` would call for a node of this type (None: not processed)."""
        try:
            return self._by_type[kind]
        except KeyError:
            found = next((p for k, p in self._processing.items() if issubclass(kind, k)), None)
            self._by_type[kind] = found
            return found


class _ExpressionWalk:
    """moto's depth-first walk of an expression tree, with one plan per traverser."""

    def __init__(self, node_class: type, base_hook: Callable[..., Any]) -> None:
        self._node_class = node_class
        self._base_hook = base_hook
        self._node_types: dict[type, bool] = {}

    def _is_node(self, value: Any) -> bool:
        kind = type(value)
        known = self._node_types.get(kind)
        if known is None:
            known = self._node_types[kind] = isinstance(value, self._node_class)
        return known

    def traverse(self, traverser: Any, node: Any, child_id: int = -1) -> Any:
        """`traverse_node_recursively` as moto's: children first, then the node's processor."""
        plan = traverser.__dict__.get(_PLAN)
        if plan is None:
            plan = traverser.__dict__[_PLAN] = _TraverserPlan(traverser, self._base_hook)
        return self._walk(node, child_id, plan)

    def _walk(self, node: Any, child_id: int, plan: _TraverserPlan) -> Any:
        if not self._is_node(node):
            return node
        parent_node = node.parent
        if node.children is not None:
            pre_child = plan.pre_child
            for i, child_node in enumerate(node.children):
                if pre_child is not None:
                    pre_child(node, i)
                self._walk(child_node, i, plan)
        processor = plan.processor(type(node))
        if processor is not None:
            node = processor(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node


@contextlib.contextmanager
def quick_expression_walks() -> Iterator[None]:
    """Let moto's DynamoDB walk an update expression's tree without rebuilding its maps per node.

    Each of the ten processors that validate an UpdateExpression walks the whole tree and, at
    every node, builds its `_processing_map` twice (a dict of bound methods) and checks the
    node against each of its ABC classes through Python-level `__instancecheck__`: about a
    third of an UpdateItem's CPU. Every processor's map is a fixed literal, so one per
    processor serves its whole walk, and its first match per node type is looked up once; the
    walk itself, its order, hooks and replacements are moto's.
    """
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
        Node,
    )

    original = DepthFirstTraverser.traverse_node_recursively
    walk = _ExpressionWalk(Node, DepthFirstTraverser.pre_processing_of_child)

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        return walk.traverse(self, node, child_id)

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
    try:
        yield
    finally:
        DepthFirstTraverser.traverse_node_recursively = original


# Values moto's `dynamo_to_dict` returns as they are (no `to_json`, not a datetime).
_PLAIN_TYPES = frozenset({str, int, float, bool, bytes, type(None)})


class _QuickDynamoToDict:
    """moto's `dynamo_to_dict` with the exact types of plain values checked first."""

    def __init__(self, original: Callable[[Any], Any], dynamo_type: Any) -> None:
        self._original = original
        self._dynamo_type = dynamo_type

    def __call__(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN_TYPES:
            return obj
        if kind is dict:
            return {k: self(v) for k, v in obj.items()}
        if kind is list:
            return [self(item) for item in obj]
        return self._in_moto_order(obj)

    def _in_moto_order(self, obj: Any) -> Any:
        from datetime import datetime

        if isinstance(obj, datetime):
            return obj
        if isinstance(obj, self._dynamo_type):
            if obj.type in ("B", "BS"):
                return self._original(obj)
            return {obj.type: self(obj.value)}
        if hasattr(obj, "to_json"):
            return self(obj.to_json())
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self(item) for item in obj]
        return obj


@contextlib.contextmanager
def quick_dynamodb_results() -> Iterator[None]:
    """Let moto convert a DynamoDB answer to plain values with exact-type checks first.

    moto's `dynamo_to_dict` asks every string and dict in an answer whether it is a datetime,
    a DynamoType and has a `to_json`, recursively: ~10% of a GetItem's or UpdateItem's CPU.
    Plain strings, numbers, dicts and lists are recognised by their exact type and take the
    same branch moto's checks would take; everything else goes through moto's checks.
    """
    from moto.dynamodb import responses
    from moto.dynamodb.models.dynamo_type import DynamoType

    module: Any = responses
    original = module.dynamo_to_dict
    module.dynamo_to_dict = _QuickDynamoToDict(original, DynamoType)
    try:
        yield
    finally:
        module.dynamo_to_dict = original


@contextlib.contextmanager
def shared_object_bodies() -> Iterator[None]:
    """Let moto's S3 keep an object's body as the bytes it was given, read without copies.

    moto writes every body into its key's in-memory buffer (a copy), and every GET, CopyObject
    and ETag reads it back out (another copy each): for a 4 MB photo, several megabytes
    allocated and copied per request. A body that fits the buffer is kept as its bytes (a
    `BytesIO` shares them until written), so reading it whole returns those same immutable
    bytes. Bodies over the buffer size still go to moto's temporary file, as before.
    """
    from moto.s3.models import FakeKey

    original: Any = FakeKey.__dict__["value"]  # the property

    def set_value(self: Any, new_value: Any) -> None:
        buffer = self._value_buffer
        limit = buffer._max_size
        if type(new_value) is not bytes or buffer._rolled or (limit and len(new_value) > limit):
            original.fset(self, new_value)
            return
        memory = io.BytesIO(new_value)
        memory.seek(0, io.SEEK_END)  # where moto's write leaves it
        buffer._file = memory
        self.contentsize = len(new_value)

    setattr(FakeKey, "value", property(original.fget, set_value))  # noqa: B010
    try:
        yield
    finally:
        setattr(FakeKey, "value", original)  # noqa: B010


# moto's `find_nested_key` reads `name[index]` as the list `name` (its first key's pattern).
_LIST_ITEM = re.compile(r"(.+)\[(\d+)\]$")


def _top_level_names(projection_expressions: list[list[str]]) -> set[str]:
    """The item attributes moto's `find_nested_key` can read for these paths."""
    names = set()
    for expression in projection_expressions:
        names.add(expression[0])
        list_item = _LIST_ITEM.match(expression[0])
        if list_item:
            names.add(list_item.group(1))
    return names


@contextlib.contextmanager
def projections_of_named_attributes() -> Iterator[None]:
    """Let moto's DynamoDB convert only the attributes a projection names, not the whole item.

    `Item.project` (a ProjectionExpression, or an index's INCLUDE/KEYS_ONLY projection of
    every Query result) converts the item to plain JSON, then picks the paths out of it; a
    path only ever reads the attribute its first name (or `name[i]`) names, so the others'
    conversion is never read. The picking, copying and re-serialising are moto's.
    """
    from moto.core.utils import merge_dicts
    from moto.dynamodb.models.dynamo_type import Item, deserializer, serializer
    from moto.dynamodb.models.utilities import find_nested_key

    original = Item.project

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names = _top_level_names(projection_expressions)
        plain = {
            key: deserializer.deserialize(attribute.to_regular_json())
            for key, attribute in self.attrs.items()
            if key in names
        }
        result: dict[str, Any] = {}
        for expression in projection_expressions:
            merge_dicts(result, copy.deepcopy(find_nested_key(expression, plain)))
        return Item(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=serializer.serialize(result)["M"],
        )

    Item.project = project  # type: ignore[method-assign]
    try:
        yield
    finally:
        Item.project = original  # type: ignore[method-assign]


def _bytesize(value: str | bytes) -> int:
    """moto's `bytesize`: the length of a value's UTF-8 bytes."""
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


class _QuickSize:
    """moto's `DynamoType.size`, without rebuilding every nested value to measure it."""

    def __init__(self, original: Callable[[Any], int], dynamo_type: Any) -> None:
        self._original = original
        self._dynamo_type = dynamo_type

    def __call__(self, value: Any) -> int:
        kind, inner = value.type, value.value
        if kind == "S" and type(inner) is str:
            return len(inner.encode("utf-8"))
        if kind == "N":
            return len(str(inner))
        if kind == "M":
            return sum(_bytesize(key) + self._member(member) for key, member in inner.items())
        if kind == "L":
            return sum(self(v) if type(v) is self._dynamo_type else v.size() for v in inner)
        return self._original(value)  # sets, booleans, binaries, nulls: moto's own

    def _member(self, member: Any) -> int:
        # moto measures `DynamoType(member)`: the same type and value, nested values rebuilt.
        if type(member) is self._dynamo_type:
            return self(member)
        return int(self._dynamo_type(member).size())


@contextlib.contextmanager
def quick_item_sizes() -> Iterator[None]:
    """Let moto measure a DynamoDB value without rebuilding its nested values.

    Every attribute an UpdateItem sets makes moto re-measure the whole item (its 400 KB
    limit), and measuring a map rebuilds each member as a new `DynamoType` (recursively) only
    to measure it: the rebuilt value has the same type and value, so measuring the member
    itself gives the same size. Strings and numbers are measured as moto measures them.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoType.size
    quick = _QuickSize(original, DynamoType)

    def size(self: Any) -> int:
        return quick(self)

    DynamoType.size = size  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoType.size = original  # type: ignore[method-assign]


@contextlib.contextmanager
def moto_speedups() -> Iterator[None]:
    """Every speed-up of this module, applied together (the local runtime enters this one)."""
    with (
        cached_update_expressions(),
        quick_expression_walks(),
        quick_dynamodb_results(),
        shared_object_bodies(),
        projections_of_named_attributes(),
        quick_item_sizes(),
    ):
        yield
