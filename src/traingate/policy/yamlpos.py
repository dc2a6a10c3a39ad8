"""Safe YAML loading that remembers where every key and value came from.

We compose the node graph with PyYAML's safe composer and build Python values
ourselves, so that:
- every key path maps to a 1-based line:column for error messages;
- duplicate keys are an error (YAML lets the later one win silently);
- only core-schema tags are accepted (no ``!!python/*``);
- aliases are expanded under a node budget, so an alias bomb is an error.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64

_CORE_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}

Loc = tuple[str | int, ...]


class Pos(NamedTuple):
    line: int
    column: int


class YamlProblem(Exception):
    def __init__(self, message: str, pos: Pos | None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Loaded(NamedTuple):
    value: Any
    values: dict[Loc, Pos]  # where each value starts
    keys: dict[Loc, Pos]  # where each mapping key starts


def _pos(mark: yaml.Mark | None) -> Pos | None:
    return None if mark is None else Pos(mark.line + 1, mark.column + 1)


def load(text: str) -> Loaded:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlProblem(f"file is larger than {MAX_BYTES} bytes", Pos(1, 1))
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        pos = _pos(exc.problem_mark) or _pos(exc.context_mark)
        raise YamlProblem(f"invalid YAML: {exc.problem or exc.context}", pos) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", None) from None
    if len(nodes) > 1:
        raise YamlProblem("expected one YAML document, found several", _pos(nodes[1].start_mark))
    if not nodes:
        return Loaded(None, {(): Pos(1, 1)}, {})
    builder = _Builder()
    value = builder.build(nodes[0], (), 0)
    return Loaded(value, builder.values, builder.keys)


class _Builder:
    def __init__(self) -> None:
        self.values: dict[Loc, Pos] = {}
        self.keys: dict[Loc, Pos] = {}
        self.count = 0
        self._scalar = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlProblem(
                f"more than {MAX_NODES} nodes after expanding aliases (alias bomb?)",
                _pos(node.start_mark),
            )
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", _pos(node.start_mark))
        pos = _pos(node.start_mark)
        if pos is not None:
            self.values.setdefault(loc, pos)
        if node.tag not in _CORE_TAGS:
            raise YamlProblem(f"tag {node.tag!r} is not allowed here", pos)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        try:
            return self._scalar.construct_object(node, deep=False)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            # e.g. `expires: 2027-31-03` matches YAML's timestamp syntax but is no
            # date: a located policy error, never an internal error (issue #18).
            raise YamlProblem(f"invalid value {node.value!r}: {exc}", pos) from None

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    "merge keys (<<) are not supported in a policy", _pos(key_node.start_mark)
                )
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _CORE_TAGS:
                raise YamlProblem("mapping keys must be plain scalars", _pos(key_node.start_mark))
            key = self._scalar.construct_object(key_node, deep=False)
            if not isinstance(key, (str, int, bool)) and key is not None:
                key = str(key)
            kpos = _pos(key_node.start_mark)
            if key in out:
                first = self.keys.get(loc + (key,))
                where = f" (first defined at line {first.line})" if first else ""
                raise YamlProblem(f"duplicate key {key!r}{where}", kpos)
            if kpos is not None:
                self.keys[loc + (key,)] = kpos
            out[key] = self.build(value_node, loc + (key,), depth + 1)
        return out
