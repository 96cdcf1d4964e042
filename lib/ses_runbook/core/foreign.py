"""One bounded reader for JSON and YAML that someone else wrote.

A queue message, a ``summary.json`` planted in a shared reports root, a parameter file or a
teammate's notebook can be hostile: megabytes of data, nesting deep enough to exhaust the
interpreter's stack, or a YAML alias bomb (a few lines whose anchors expand to billions of
nodes). Everything foreign is read here, with a size cap, a depth cap and, for YAML, a cap on
the nodes the document would hold once every alias is expanded, counted while it is composed so
nothing is ever expanded. A refusal is a ``ForeignDataError`` whose message says what was wrong
in one line and never quotes the value. Lone UTF-16 surrogates (valid in JSON escapes, unencodable
in UTF-8) are replaced, so no later writer crashes on them.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from ses_runbook.core.errors import ForeignDataError

MAX_BYTES = 4 * 1024 * 1024  # a summary.json is a few kB, a notification a few hundred bytes
MAX_DEPTH = 64  # SES notifications and summaries nest fewer than 10 levels
MAX_YAML_NODES = 100_000  # a parameter file or targets file holds dozens; expanded aliases count each time


def _size(data: bytes | str, what: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ForeignDataError(f"{what}: larger than {max_bytes:,} bytes; not read")


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _bounded(value: Any, what: str, max_depth: int) -> Any:
    """The decoded value, its depth checked without recursion and its strings made encodable."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ForeignDataError(f"{what}: nested deeper than {max_depth} levels; not read")
        if isinstance(item, dict):
            for key in list(item):
                child = item.pop(key) if isinstance(key, str) and _clean(key) is not key else item[key]
                key = _clean(key) if isinstance(key, str) else key
                if isinstance(child, str):
                    item[key] = _clean(child)
                else:
                    item[key] = child
                    stack.append((child, depth + 1))
        elif isinstance(item, list):
            for i, child in enumerate(item):
                if isinstance(child, str):
                    item[i] = _clean(child)
                else:
                    stack.append((child, depth + 1))
    return _clean(value) if isinstance(value, str) else value


def read_json(data: bytes | str, what: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``data`` decoded, or ``ForeignDataError`` (a ``ValueError``) saying in one line why not."""
    _size(data, what, max_bytes)
    try:
        # json's C decoder guards its own stack: nesting of about a thousand raises RecursionError at once
        value = json.loads(data)
    except RecursionError:
        raise ForeignDataError(f"{what}: nested deeper than {max_depth} levels; not read") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ForeignDataError(f"{what}: not JSON ({str(exc).splitlines()[0][:80]})") from None
    return _bounded(value, what, max_depth)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting while it composes: the depth of the node tree and the nodes the
    document holds with every alias expanded (memoised per node, so counting stays linear)."""

    max_depth = MAX_DEPTH
    max_nodes = MAX_YAML_NODES
    what = "YAML"

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > self.max_depth:
            raise ForeignDataError(f"{self.what}: nested deeper than {self.max_depth} levels; not read")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        known = self._sizes.get(id(node))
        if known is None:
            if isinstance(node, yaml.SequenceNode):
                children = [self._sizes.get(id(c), (1, 1)) for c in node.value]
            elif isinstance(node, yaml.MappingNode):
                children = [self._sizes.get(id(n), (1, 1)) for pair in node.value for n in pair]
            else:
                children = []
            known = (1 + sum(c[0] for c in children), 1 + max((c[1] for c in children), default=0))
            self._sizes[id(node)] = known
        if known[0] > self.max_nodes:
            raise ForeignDataError(
                f"{self.what}: expands to more than {self.max_nodes:,} values (anchors and aliases); not read"
            )
        if known[1] > self.max_depth:
            raise ForeignDataError(f"{self.what}: nested deeper than {self.max_depth} levels; not read")
        return node


def read_yaml(data: bytes | str, what: str, max_bytes: int = MAX_BYTES) -> Any:
    """``data`` loaded safely, or ``ForeignDataError`` saying in one line why not. ``yaml.YAMLError``
    (a syntax error) passes through for the caller to point at its line."""
    _size(data, what, max_bytes)
    loader = type("Loader", (_BoundedLoader,), {"what": what})(data)
    try:
        value = loader.get_single_data()
    except RecursionError:
        raise ForeignDataError(f"{what}: nested deeper than {MAX_DEPTH} levels; not read") from None
    finally:
        loader.dispose()
    return _bounded(value, what, MAX_DEPTH)


def expect(value: Any, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """``value`` if it is of ``kind`` (a bool is not a number), else ``default``: foreign fields are
    checked before use, and one of the wrong type is as good as missing."""
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        return default
    return value if isinstance(value, kind) else default
