"""YAML that people and tools hand us (stack files, settings files, a kustomization found in --out), read within bounds.

PyYAML's safe loader builds whatever a file spells and trusts its shape: a 1 KB file of nested aliases ("billion
laughs") expands to a billion values that validation then walks for a minute and gigabytes; a 10,000-deep list
overflows Python's recursion limit; a 5,000-digit integer trips Python's int-parsing limit; a repeated key silently
replaces the first; `yes:` or `1:` make keys that are not strings. Kubernetes' own reader (sigs.k8s.io/yaml over
go-yaml) refuses duplicate keys and excessive aliasing; this refuses all of these, fast, naming the line.
"""

from __future__ import annotations

import math
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from voxdeploy.infra.config.errors import FILE, MISSING, ConfigError, ConfigIssue, shown

MAX_BYTES = 1 << 20
"""Largest YAML file read (1 MiB); a stack file is a few KB."""

MAX_DEPTH = 64
"""Deepest nesting of collections; the deepest stack key path is under ten."""

MAX_VALUES = 20_000
"""Most values a document may expand to, an alias counting its whole anchor each time it is used; the largest
bundled stack has a few hundred. Counted as composed, so a bomb (or a megabyte of values) stops within this many."""

MAX_INTEGER_CHARS = 32
"""Longest integer text: Kubernetes integers are 64-bit (19 digits), so anything longer is a mistake or an attack."""

INT64 = range(-(2**63), 2**63)
"""The integers a Kubernetes field (int32 or int64) can hold at most."""

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TAG_NAMES = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean (YAML 1.1 reads yes, no, on, off as booleans)",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


class RefusedYaml(yaml.MarkedYAMLError):
    """A document PyYAML would build but this loader will not; the mark says where."""


def _refuse(problem: str, node_or_mark: Node | yaml.Mark) -> RefusedYaml:
    mark = node_or_mark.start_mark if isinstance(node_or_mark, Node) else node_or_mark
    return RefusedYaml(problem=problem, problem_mark=mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with bounds on depth, alias expansion and integers, string keys only, each key once."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0  # values the document expands to so far
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to; set once the node is complete

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _refuse(
                f"expands to more than {MAX_VALUES:,} values (each alias counts its whole anchor): an alias bomb "
                "or a file far larger than a stack",
                mark,
            )

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Bound the depth going down and the expanded size coming back up, before anything is constructed."""
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self._sizes:
                    raise _refuse(f"alias *{event.anchor} is used inside its own anchor (a cycle)", event.start_mark)
                self._count(self._sizes[id(target)], event.start_mark)
            return super().compose_node(parent, index)
        self._count(1, self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _refuse(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert node is not None  # PyYAML composes a node for every event it is handed
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _children(node))
        return node

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:  # the anchor's name (PyYAML's stubs say a dict)
        """A `\\ud800` escape makes a str no encoder writes: refuse it here, not when render writes it out."""
        node = super().compose_scalar_node(anchor)
        if _SURROGATE.search(node.value):
            raise _refuse("holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape), which is not text", node)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        """Keys as Pulumi and Kubernetes (JSON) have them: strings, each once; merge keys (`<<`) may override."""
        node = super().compose_mapping_node(anchor)
        first: dict[str, int] = {}
        for key, _ in node.value:
            if key.tag == _MERGE:
                continue
            if not isinstance(key, ScalarNode) or key.tag != _STR:
                kind = "a collection" if not isinstance(key, ScalarNode) else _TAG_NAMES.get(key.tag, key.tag)
                text = f" {shown(key.value)}" if isinstance(key, ScalarNode) else ""
                raise _refuse(f"key{text} is {kind}, not a string; quote it if it is meant as text", key)
            if key.value in first:
                raise _refuse(
                    f"duplicate key {shown(key.value)} (first at line {first[key.value] + 1}): keys must be unique, "
                    "and the last would silently win",
                    key,
                )
            first[key.value] = key.start_mark.line
        return node

    def construct_bounded_int(self, node: ScalarNode) -> int:
        """Checked on the text first: int() of 5,000 digits raises ValueError (and is slow before that)."""
        if len(node.value) > MAX_INTEGER_CHARS:
            raise _refuse(
                f"an integer of {len(node.value):,} characters: Kubernetes integers are 64-bit (at most 19 digits)",
                node,
            )
        value = int(self.construct_yaml_int(node))
        if value not in INT64:
            raise _refuse(f"{value} is beyond the 64-bit integers Kubernetes takes", node)
        return value

    def construct_finite_float(self, node: ScalarNode) -> float:
        """`.inf` or `1.0e+999` would pass `gt=0` and crash where a builder converts it (int(inf))."""
        value = float(self.construct_yaml_float(node))
        if not math.isfinite(value):
            raise _refuse(f"{node.value!r} is not a finite number: Kubernetes and JSON have no inf or NaN", node)
        return value


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_bounded_int)
BoundedLoader.add_constructor("tag:yaml.org,2002:float", BoundedLoader.construct_finite_float)


def load_yaml(text: str) -> object:
    """One YAML document within the bounds above; yaml.YAMLError (RefusedYaml among them) otherwise."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def describe(err: yaml.YAMLError) -> str:
    """A YAML error as one line: where, and what is wrong."""
    if isinstance(err, yaml.reader.ReaderError):
        return f"not YAML text: character #x{err.character:04x} at position {err.position} is not allowed"
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown place"
    parts = [getattr(err, "context", None), getattr(err, "problem", None)]
    problem = " ".join(", ".join(str(part) for part in parts if part).split()) or str(err)
    return f"{where}: {problem}" if isinstance(err, RefusedYaml) else f"not valid YAML at {where}: {problem}"


def read_yaml_file(path: Path) -> object:
    """A YAML file's one document; ConfigError naming the file for anything that is not a small YAML file."""

    def refused(message: str) -> ConfigError:
        return ConfigError(str(path), [ConfigIssue(FILE, MISSING, message)])

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
            raise refused(f"is {kind}, not a YAML file")
        if info.st_size > MAX_BYTES:
            raise refused(f"is {info.st_size:,} bytes; a YAML file here may be at most {MAX_BYTES:,} bytes")
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise refused(f"cannot read: {err.strerror}") from None
    if len(data) > MAX_BYTES:
        raise refused(f"grew past {MAX_BYTES:,} bytes while read; a YAML file here may be at most that")
    try:
        return load_yaml(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise refused(f"not UTF-8 text: {err}") from None
    except yaml.YAMLError as err:
        raise refused(describe(err)) from None
