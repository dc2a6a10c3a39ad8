"""Safe YAML: the one place that turns YAML text into PyYAML nodes (issue #15).

Both readers of YAML under review or in the trusted policy go through here: the
policy loader (:func:`load`, strict) and the config check
(``traingate.checks.config.parse_yaml``, lenient). Neither ever *constructs*
anything but core-schema scalars: the text is only composed into nodes and
walked, so ``!!python/*`` tags never run, and every value keeps its position.

What the two walkers share is here: the core tag tables, the composer that keeps
alias occurrences (:class:`AliasNode`, so a value pulled in by ``*ref`` points at
the line that pulled it in) with libyaml's parser when available, and
:func:`unalias` / :func:`short_tag`. What differs is on purpose:

- :func:`load` (the policy) makes every oddity an *error* with a position:
  a non-core tag, a merge key, a duplicate key, more than one document, more
  than ``MAX_NODES`` nodes after expanding aliases or ``MAX_DEPTH`` levels. It
  composes with PyYAML's pure-Python ``SafeLoader``: policy authors see its
  error wording ("invalid YAML: expected ',' or ']', but got '}'") and its line
  numbers (which also break lines at a lone CR, U+0085, U+2028 and U+2029).
- The config check *reports* the same oddities as findings and keeps going (the
  later duplicate wins, as in ``yaml.safe_load``; merges and several documents
  are read), counts lines on ``\n`` only as git does, and composes with
  :data:`ComposeLoader` (libyaml, 9x faster on real task configs).

Making the policy loader compose with libyaml or count lines like git would
change the messages and positions of policy errors; making the config check
strict would turn its findings into parse errors. Hence two walkers over one
composer module.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import Node
from yaml.resolver import Resolver

CORE = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(CORE + t for t in ("null", "bool", "int", "float", "str", "binary"))
SCALAR_TAGS |= {CORE + "timestamp"}
SEQUENCE_TAGS = frozenset(CORE + t for t in ("seq", "omap", "pairs"))
MAPPING_TAGS = frozenset(CORE + t for t in ("map", "set"))
MERGE_TAG = CORE + "merge"
VALUE_TAG = CORE + "value"


class AliasNode(Node):
    """An alias occurrence. PyYAML's composer returns the anchored node itself and
    forgets where the alias was; keeping it lets values pulled in by ``*ref`` point
    at the line that pulled them in (which is the line a reviewer sees change)."""

    def __init__(self, target: Node, mark: Mark) -> None:
        super().__init__(target.tag, target, mark, mark)
        self.target = target


class _AliasComposer(Composer):
    """Composes only. Constructing is limited to core scalars, by the walkers (``load`` below, the config check's ``parse_yaml``)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            mark = self.peek_event().start_mark  # type: ignore[attr-defined]
            target = super().compose_node(parent, index)
            assert target is not None
            return AliasNode(target, mark)
        return super().compose_node(parent, index)


class _PyComposeLoader(_AliasComposer, yaml.SafeLoader):
    pass


try:  # libyaml's parser, our composer: 9x faster on 3,400 real task configs
    from yaml._yaml import CParser

    class _CComposeLoader(_AliasComposer, CParser, SafeConstructor, Resolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    ComposeLoader: Any = _CComposeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    ComposeLoader = _PyComposeLoader


def short_tag(tag: str) -> str:
    return "!!" + tag[len(CORE) :] if tag.startswith(CORE) else tag


def unalias(node: Node, at: Mark | None) -> tuple[Node, Mark | None]:
    while isinstance(node, AliasNode):
        at = at or node.start_mark
        node = node.target
    return node, at


# --- the policy loader (strict) ----------------------------------------------

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64

# The policy's own schema: fewer tags than a config may use, and merge keys only
# so that they can be rejected with a position.
_CORE_TAGS = {
    CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
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
