"""Parse training configs (YAML, JSON, TOML) into positioned leaves, and diff them by key.

A config is flattened to its *leaves*: scalar values and empty containers, keyed by
their path (mapping keys are ``str`` segments, list indexes ``int`` segments), each
with the 1-based line and column it came from, so a check can say "``optimizer.lr``
changed from 3e-4 to 3e-2 at line 7" and match keys with globs like
``**.trust_remote_code``.

Security properties, since the text under review is attacker-controlled:

* YAML is only *composed* (with a ``SafeLoader`` subclass) and walked here; nothing
  is constructed except core-schema scalars. Nodes with ``!!python/*`` or any other
  non-core tag are reported in ``python_tags`` and their leaf value is their source
  text. Aliases and merge keys are expanded by this module under a node budget
  (``max_nodes``), so an alias bomb ("billion laughs") raises :class:`ConfigError`
  after ``max_nodes`` steps instead of exhausting memory; recursive aliases raise too.
* Duplicate keys (legal in PyYAML and ``json``, where the later value silently wins)
  are reported with the position of every occurrence.
* Every failure, including pathological nesting, is a :class:`ConfigError`.

Values follow what training code would see from ``yaml.safe_load`` (YAML 1.1: ``on``
is ``True``, and ``3e-4`` without a dot is the *string* "3e-4"), ``json.loads`` and
``tomllib.loads``.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache, partial
from typing import Any, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

__all__ = [
    "ConfigDoc",
    "ConfigError",
    "ConfigValue",
    "KeyChange",
    "config_format",
    "diff_configs",
    "format_path",
    "interpolation_end",
    "match_key_pattern",
    "parse_config",
    "resolve_interpolations",
    "strip_jsonc",
]

KeyPath = tuple[str | int, ...]

# No real config nests this deep; the limit keeps recursion well inside Python's.
MAX_DEPTH = 200


class ConfigError(Exception):
    """A config that cannot be parsed; ``line``/``column`` are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(line, column, message)
        self.line = line
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class ConfigValue(NamedTuple):
    path: KeyPath
    value: object
    line: int
    column: int


class ConfigDoc(NamedTuple):
    fmt: str
    leaves: dict[KeyPath, ConfigValue]
    duplicate_keys: list[ConfigValue]
    python_tags: list[ConfigValue]


class KeyChange(NamedTuple):
    path: KeyPath
    kind: str  # "added" | "removed" | "changed"
    old: object
    new: object
    line: int  # in the new document; in the old one for "removed"
    column: int


_FORMATS = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".jsonc": "jsonc",
    ".json5": None,
    ".toml": "toml",
}
# JSON files whose readers accept comments and trailing commas (issue #16: a
# .devcontainer/devcontainer.json with comments failed as config-parse-error).
# Only these: a training config.json is read by json.loads, for which a comment
# is an error, and reading it as JSONC would make the gate see keys that its
# reader never does.
_JSONC_NAMES = re.compile(
    r"(?:^|/)(?:\.devcontainer/[^/]*\.json|\.devcontainer\.json|\.vscode/[^/]*\.json"
    r"|[^/]*\.code-workspace|(?:ts|js)config(?:\.[^/]*)?\.json|\.eslintrc\.json"
    r"|\.babelrc(?:\.json)?|language-configuration\.json)$",
    re.IGNORECASE,
)


def config_format(path: str) -> str | None:
    """The format of a config file: "yaml", "json", "jsonc" (JSON with comments, by
    file name: devcontainer, VS Code, tsconfig...), "toml" or None."""
    if _JSONC_NAMES.search(path):
        return "jsonc"
    dot = path.rfind(".")
    return _FORMATS.get(path[dot:].lower()) if dot > path.rfind("/") else None


class _Lines:
    """Offset to (line, column), lines split on ``\\n`` only, as git and json count."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def pos(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, where: Callable[[], tuple[int, int]]) -> None:
        """Count one node; ``where`` gives the position, computed only on failure."""
        self.left -= 1
        if self.left < 0:
            raise ConfigError(
                *where(),
                f"config expands to more than {self.limit} nodes "
                "(an alias bomb, or too big to check)",
            )


def parse_config(fmt: str, text: str, *, max_nodes: int = 100_000) -> ConfigDoc:
    """Parse ``text`` as ``fmt`` ("yaml", "json" or "toml"); raises :class:`ConfigError`.

    ``max_nodes`` bounds the work, counting every node visited after expanding YAML
    aliases and merges. An unknown ``fmt`` is a caller bug: :class:`ValueError`.
    """
    parser = {
        "yaml": _parse_yaml,
        "json": _parse_json,
        "jsonc": _parse_jsonc,
        "toml": _parse_toml,
    }.get(fmt)
    if parser is None:
        raise ValueError(f"unknown config format {fmt!r}")
    try:
        return parser(text, _Budget(max_nodes))
    except RecursionError:
        raise ConfigError(1, 1, "config is nested too deeply to check") from None


# --- YAML ------------------------------------------------------------------------

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("null", "bool", "int", "float", "str", "binary"))
_SCALAR_TAGS |= {_CORE + "timestamp"}
_SEQUENCE_TAGS = frozenset(_CORE + t for t in ("seq", "omap", "pairs"))
_MAPPING_TAGS = frozenset(_CORE + t for t in ("map", "set"))
_MERGE_TAG = _CORE + "merge"
_VALUE_TAG = _CORE + "value"


class _AliasNode(Node):
    """An alias occurrence. PyYAML's composer returns the anchored node itself and
    forgets where the alias was; keeping it lets values pulled in by ``*ref`` point
    at the line that pulled them in (which is the line a reviewer sees change)."""

    def __init__(self, target: Node, mark: Mark) -> None:
        super().__init__(target.tag, target, mark, mark)
        self.target = target


class _AliasComposer(Composer):
    """Composes only. Constructing is limited to core scalars, by :class:`_YamlWalker`."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            mark = self.peek_event().start_mark  # type: ignore[attr-defined]
            target = super().compose_node(parent, index)
            assert target is not None
            return _AliasNode(target, mark)
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

    _ComposeLoader: Any = _CComposeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _ComposeLoader = _PyComposeLoader


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _unalias(node: Node, at: Mark | None) -> tuple[Node, Mark | None]:
    while isinstance(node, _AliasNode):
        at = at or node.start_mark
        node = node.target
    return node, at


class _Entry(NamedTuple):
    key: str
    key_mark: Mark
    value: Node
    at: Mark | None  # alias through which the value is reached, if any
    duplicate: bool


class _YamlWalker:
    def __init__(self, text: str, loader: _ComposeLoader, budget: _Budget) -> None:
        self.text = text
        self.lines = _Lines(text)
        self.loader = loader
        self.budget = budget
        self.leaves: dict[KeyPath, ConfigValue] = {}
        self.duplicates: list[ConfigValue] = []
        self.tags: list[ConfigValue] = []
        self._tagged: set[int] = set()  # report each tagged node once, not per alias
        self._flattened: set[int] = set()  # report each mapping's duplicates once
        self._active: set[int] = set()  # collections being walked: recursion check

    def pos(self, mark: Mark | None) -> tuple[int, int]:
        return self.lines.pos(mark.index) if mark is not None else (1, 1)

    def error(self, mark: Mark | None, message: str) -> ConfigError:
        return ConfigError(*self.pos(mark), message)

    def _enter(self, node: Node, where: Mark | None, depth: int) -> None:
        self.budget.spend(lambda: self.pos(where))
        if depth > MAX_DEPTH:
            raise self.error(where, f"config nests deeper than {MAX_DEPTH} levels")
        if id(node) in self._active:
            raise self.error(where, "recursive alias: a node contains itself")

    def leaf(self, path: KeyPath, value: object, where: Mark | None) -> None:
        self.leaves[path] = ConfigValue(path, value, *self.pos(where))

    def scalar(self, node: ScalarNode) -> object:
        if node.tag in (_VALUE_TAG, _MERGE_TAG):
            # Plain `=` and `<<` resolve to tags safe_load has no constructor for.
            msg = f"yaml.safe_load cannot load a plain {node.value!r} here; quote it"
            raise self.error(node.start_mark, msg)
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # any failure of PyYAML's scalar constructors
            msg = f"invalid {_short_tag(node.tag)} value {node.value[:40]!r}"
            if isinstance(exc, ValueError):
                msg += f": {exc}"
            raise self.error(node.start_mark, msg) from None

    def record_tag(self, node: Node, path: KeyPath, depth: int) -> None:
        """Report a non-core tag, and any nested inside it, without constructing."""
        if id(node) in self._tagged:
            return
        self._tagged.add(id(node))
        self.tags.append(ConfigValue(path, _short_tag(node.tag), *self.pos(node.start_mark)))
        self._scan_for_tags(node, path, depth)

    def _scan_for_tags(self, node: Node, path: KeyPath, depth: int) -> None:
        self._active.add(id(node))
        try:
            for child in self._children(node):
                child, _ = _unalias(child, None)
                self._enter(child, child.start_mark, depth + 1)
                if not self._is_core(child):
                    self.record_tag(child, path, depth + 1)
                else:
                    self._scan_for_tags(child, path, depth + 1)
        finally:
            self._active.discard(id(node))

    @staticmethod
    def _children(node: Node) -> Iterator[Node]:
        if isinstance(node, SequenceNode):
            yield from node.value
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                yield key
                yield value

    @staticmethod
    def _is_core(node: Node) -> bool:
        if isinstance(node, ScalarNode):
            return node.tag in _SCALAR_TAGS or node.tag in (_VALUE_TAG, _MERGE_TAG)
        if isinstance(node, SequenceNode):
            return node.tag in _SEQUENCE_TAGS
        return isinstance(node, MappingNode) and node.tag in _MAPPING_TAGS

    def source(self, node: Node) -> str:
        return self.text[node.start_mark.index : node.end_mark.index].strip()

    def walk(self, node: Node, path: KeyPath, at: Mark | None, emit: bool, depth: int) -> object:
        """Record the leaves under ``node`` (if ``emit``) and return its plain value.

        ``at`` is the alias that brought the walk here: leaves below an alias take
        its position. ``emit`` is False under a duplicate key that a later one
        overrides: those leaves are not in the result, but their tags still count
        (an unsafe loader would construct them before discarding).
        """
        node, at = _unalias(node, at)
        where = at or node.start_mark
        self._enter(node, where, depth)
        if not self._is_core(node):
            self.record_tag(node, path, depth)
            value: object = self.source(node)
            if emit:
                self.leaf(path, value, where)
            return value
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if emit:
                self.leaf(path, value, where)
            return value
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items = [
                    self.walk(child, (*path, i), at, emit, depth + 1)
                    for i, child in enumerate(node.value)
                ]
                if emit and not items:
                    self.leaf(path, [], where)
                return items
            assert isinstance(node, MappingNode)
            return self.walk_mapping(node, path, at, emit, depth)
        finally:
            self._active.discard(id(node))

    def walk_mapping(
        self, node: MappingNode, path: KeyPath, at: Mark | None, emit: bool, depth: int
    ) -> dict[str, object]:
        entries = self.entries(node, path, at, depth)
        winner = {entry.key: k for k, entry in enumerate(entries)}
        result: dict[str, object] = {}
        for k, entry in enumerate(entries):
            wins = winner[entry.key] == k
            sub = (*path, entry.key)
            value = self.walk(entry.value, sub, entry.at, emit and wins, depth + 1)
            if wins:
                result[entry.key] = value
            if entry.duplicate:
                self.duplicates.append(ConfigValue(sub, value, *self.pos(entry.key_mark)))
        if emit and not entries:
            self.leaf(path, {}, at or node.start_mark)
        return result

    def entries(
        self, node: MappingNode, path: KeyPath, at: Mark | None, depth: int
    ) -> list[_Entry]:
        """The mapping's key/value pairs with merges (``<<``) applied, later ones winning.

        PyYAML's order: explicit keys beat merged ones; of ``<<: [*a, *b]`` the
        earlier mapping wins; of two ``<<`` keys the later wins.
        """
        merged: list[_Entry] = []
        explicit: list[_Entry] = []
        first_time = id(node) not in self._flattened
        self._flattened.add(id(node))
        for key_node, value_node in node.value:
            self.budget.spend(partial(self.pos, key_node.start_mark))
            key, _ = _unalias(key_node, None)
            if isinstance(key, ScalarNode) and key.tag == _MERGE_TAG:
                for source, source_at in reversed(self.merge_sources(value_node, at, path)):
                    self._enter(source, source_at or source.start_mark, depth + 1)
                    self._active.add(id(source))
                    try:
                        merged.extend(self.entries(source, path, source_at, depth + 1))
                    finally:
                        self._active.discard(id(source))
                continue
            name = self.key_name(key, path, depth)
            explicit.append(_Entry(name, key_node.start_mark, value_node, at, False))
        if first_time:
            counts: dict[str, int] = {}
            for entry in explicit:
                counts[entry.key] = counts.get(entry.key, 0) + 1
            explicit = [e._replace(duplicate=counts[e.key] > 1) for e in explicit]
        return merged + explicit

    def merge_sources(
        self, value: Node, at: Mark | None, path: KeyPath
    ) -> list[tuple[MappingNode, Mark | None]]:
        """The mappings a ``<<`` value names, highest priority first."""
        value, at = _unalias(value, at)
        items = [(value, at)]
        if isinstance(value, SequenceNode):
            items = [_unalias(item, at) for item in value.value]
        sources = []
        for item, item_at in items:
            if not isinstance(item, MappingNode):
                raise self.error(
                    item_at or item.start_mark, "a merge key (<<) needs a mapping or a list of them"
                )
            if item.tag not in _MAPPING_TAGS:
                self.record_tag(item, path, 0)
            sources.append((item, item_at))
        return sources

    def key_name(self, key: Node, path: KeyPath, depth: int) -> str:
        """A mapping key as a path segment: always ``str``, so keys never look like
        list indexes. Non-string scalars use their YAML spelling, canonical where
        PyYAML would make them equal (``yes``/``on``/``true`` are all "true")."""
        if isinstance(key, ScalarNode) and key.tag == _VALUE_TAG:
            return str(key.value)  # PyYAML reads a plain `=` key as the string "="
        if isinstance(key, ScalarNode) and key.tag in _SCALAR_TAGS:
            value = self.scalar(key)
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if value is None:
                return "null"
            if isinstance(value, int | float):
                return repr(value)
            return str(key.value)
        if not self._is_core(key):
            self.record_tag(key, path, depth)
            return str(key.value) if isinstance(key, ScalarNode) else self.source(key)
        raise self.error(key.start_mark, "a list or mapping as a mapping key is not supported")


def _yaml_error(exc: yaml.YAMLError, lines: _Lines) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = lines.pos(mark.index) if mark is not None else (1, 1)
        parts = [p for p in (exc.problem, exc.context) if p]
        if exc.problem and "nesting depth" in exc.problem:
            # PyYAML >= 6.0.2 stops deep nesting itself (its own limit and position);
            # say it the way every other format does.
            parts.insert(0, "config is nested too deeply to check")
        return ConfigError(line, column, "; ".join(parts) or "invalid YAML")
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = lines.pos(int(exc.position))
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return ConfigError(line, column, f"unacceptable character {shown}: {exc.reason}")
    return ConfigError(1, 1, str(exc))


def _parse_yaml(text: str, budget: _Budget) -> ConfigDoc:
    lines = _Lines(text)
    try:
        loader = _ComposeLoader(text)
    except yaml.YAMLError as exc:  # the reader rejects control characters up front
        raise _yaml_error(exc, lines) from None
    try:
        docs: list[Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(node)
        walker = _YamlWalker(text, loader, budget)
        # One document: paths start at its root. Several ("---"): the document
        # index is the first segment.
        for k, doc in enumerate(docs):
            walker.walk(doc, (k,) if len(docs) > 1 else (), None, True, 0)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, lines) from None
    finally:
        loader.dispose()
    walker.duplicates.sort(key=lambda v: (v.line, v.column))
    return ConfigDoc("yaml", walker.leaves, walker.duplicates, walker.tags)


# --- JSON ------------------------------------------------------------------------

_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_CONSTANTS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}


class _JsonNode(NamedTuple):
    value: object  # scalar, list[_JsonNode], or list[tuple[str, int, _JsonNode]]
    kind: str  # "scalar" | "array" | "object"
    offset: int


class _JsonParser:
    """Just enough JSON to know where each key and value starts. ``json.loads`` has
    already accepted the text, so this only needs to handle valid JSON (with the
    same extensions: NaN and Infinity)."""

    def __init__(self, text: str, lines: _Lines, budget: _Budget) -> None:
        self.text = text
        self.lines = lines
        self.budget = budget

    def ws(self, i: int) -> int:
        m = _JSON_WS.match(self.text, i)
        return m.end() if m else i

    def expect(self, i: int, ch: str) -> int:
        if self.text.startswith(ch, i):
            return i + 1
        raise ConfigError(*self.lines.pos(i), f"expecting {ch!r}")

    def string(self, i: int) -> tuple[str, int]:
        m = _JSON_STRING.match(self.text, i)
        if m is None:
            raise ConfigError(*self.lines.pos(i), "unterminated string")
        return str(json.loads(m.group())), m.end()

    def parse(self, i: int, depth: int) -> tuple[_JsonNode, int]:
        i = self.ws(i)
        self.budget.spend(lambda: self.lines.pos(i))
        if depth > MAX_DEPTH:
            raise ConfigError(*self.lines.pos(i), f"config nests deeper than {MAX_DEPTH} levels")
        text = self.text
        ch = text[i : i + 1]
        if ch == "{":
            members: list[tuple[str, int, _JsonNode]] = []
            j = self.ws(i + 1)
            if text.startswith("}", j):
                return _JsonNode(members, "object", i), j + 1
            while True:
                j = self.ws(j)
                if not text.startswith('"', j):
                    raise ConfigError(*self.lines.pos(j), "expecting a property name")
                key, k = self.string(j)
                k = self.expect(self.ws(k), ":")
                child, k = self.parse(k, depth + 1)
                members.append((key, j, child))
                k = self.ws(k)
                if text.startswith("}", k):
                    return _JsonNode(members, "object", i), k + 1
                j = self.expect(k, ",")
        if ch == "[":
            items: list[_JsonNode] = []
            j = self.ws(i + 1)
            if text.startswith("]", j):
                return _JsonNode(items, "array", i), j + 1
            while True:
                child, j = self.parse(j, depth + 1)
                items.append(child)
                j = self.ws(j)
                if text.startswith("]", j):
                    return _JsonNode(items, "array", i), j + 1
                j = self.expect(j, ",")
        if ch == '"':
            value, j = self.string(i)
            return _JsonNode(value, "scalar", i), j
        for word, constant in _JSON_CONSTANTS.items():
            if text.startswith(word, i):
                return _JsonNode(constant, "scalar", i), i + len(word)
        m = _JSON_NUMBER.match(text, i)
        if m is None:
            raise ConfigError(*self.lines.pos(i), "expecting a value")
        number: object = float(m.group()) if m.group(1) or m.group(2) else int(m.group())
        return _JsonNode(number, "scalar", i), m.end()


class _JsonWalker:
    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.leaves: dict[KeyPath, ConfigValue] = {}
        self.duplicates: list[ConfigValue] = []

    def walk(self, node: _JsonNode, path: KeyPath, emit: bool) -> object:
        if node.kind == "scalar":
            if emit:
                self.leaves[path] = ConfigValue(path, node.value, *self.lines.pos(node.offset))
            return node.value
        assert isinstance(node.value, list)
        if emit and not node.value:
            empty: object = [] if node.kind == "array" else {}
            self.leaves[path] = ConfigValue(path, empty, *self.lines.pos(node.offset))
        if node.kind == "array":
            return [self.walk(child, (*path, i), emit) for i, child in enumerate(node.value)]
        members: list[tuple[str, int, _JsonNode]] = node.value
        winner = {key: k for k, (key, _, _) in enumerate(members)}
        counts: dict[str, int] = {}
        for key, _, _ in members:
            counts[key] = counts.get(key, 0) + 1
        result: dict[str, object] = {}
        for k, (key, key_index, child) in enumerate(members):
            value = self.walk(child, (*path, key), emit and winner[key] == k)
            if winner[key] == k:
                result[key] = value
            if counts[key] > 1:
                pos = self.lines.pos(key_index)
                self.duplicates.append(ConfigValue((*path, key), value, *pos))
        return result


def _parse_json(text: str, budget: _Budget) -> ConfigDoc:
    # A byte order mark becomes a space: json.loads rejects it, but the file is
    # fine, and the offsets (hence positions) stay the same.
    if text.startswith("\ufeff"):
        text = " " + text[1:]
    lines = _Lines(text)
    try:
        json.loads(text)  # json's own verdict, error messages and positions
    except json.JSONDecodeError as exc:
        raise ConfigError(exc.lineno, exc.colno, exc.msg) from None
    except ValueError as exc:  # e.g. an integer beyond int_max_str_digits
        raise ConfigError(1, 1, str(exc)) from None
    try:
        root, _ = _JsonParser(text, lines, budget).parse(0, 0)
    except json.JSONDecodeError as exc:
        raise ConfigError(exc.lineno, exc.colno, exc.msg) from None
    walker = _JsonWalker(lines)
    walker.walk(root, (), True)
    return ConfigDoc("json", walker.leaves, walker.duplicates, [])


_JSONC_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/|/\*', re.DOTALL)
_JSONC_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[\]}])')


def strip_jsonc(text: str) -> str:
    """JSON with comments as plain JSON of the same length and line structure:
    ``//`` and ``/* */`` comments and trailing commas outside strings become
    spaces (newlines inside block comments are kept), so every line and column
    json reports is the one in the file. An unterminated block comment raises
    :class:`ConfigError` at its start."""
    # Comments first, then the trailing commas they may have hidden ("a": 1, // x\n}).
    for token in (_JSONC_TOKEN, _JSONC_COMMA):
        out: list[str] = []
        pos = 0
        for m in token.finditer(text):
            tok = m.group()
            if tok.startswith('"'):
                continue
            if tok == "/*":
                raise ConfigError(*_Lines(text).pos(m.start()), "unterminated /* comment")
            out.append(text[pos : m.start()])
            out.append("".join(c if c == "\n" else " " for c in tok))
            pos = m.end()
        out.append(text[pos:])
        text = "".join(out)
    return text


def _parse_jsonc(text: str, budget: _Budget) -> ConfigDoc:
    doc = _parse_json(strip_jsonc(text), budget)
    return doc._replace(fmt="jsonc")


# --- TOML ------------------------------------------------------------------------


def _toml_loads() -> Callable[[str], dict[str, Any]] | None:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads
    try:
        import tomli
    except ImportError:
        return None
    return tomli.loads


_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
_TOML_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(line: str, i: int) -> tuple[list[str], int] | None:
    """A dotted key at ``line[i:]``: (segments, index after it), or None."""
    segments = []
    n = len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if line.startswith('"', i):
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            if j >= n:
                return None
            try:
                segments.append(str(json.loads(line[i : j + 1])))
            except ValueError:  # a TOML-only escape such as \U0001F600
                segments.append(line[i + 1 : j])
            i = j + 1
        elif line.startswith("'", i):
            j = line.find("'", i + 1)
            if j == -1:
                return None
            segments.append(line[i + 1 : j])
            i = j + 1
        else:
            m = _TOML_BARE.match(line, i)
            if m is None:
                return None
            segments.append(m.group())
            i = m.end()
        while i < n and line[i] in " \t":
            i += 1
        if not line.startswith(".", i):
            return segments, i
        i += 1


def _toml_scan_value(line: str, i: int, depth: int) -> tuple[str | None, int]:
    """Skip a value's text: returns (open multi-line string delimiter, bracket depth)."""
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "#":
            break
        if ch in "\"'":
            if line.startswith(ch * 3, i):
                end = line.find(ch * 3, i + 3)
                if end == -1:
                    return ch * 3, depth
                i = end + 3
                continue
            j = i + 1
            while j < n and line[j] != ch:
                j += 2 if ch == '"' and line[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return None, depth


def _toml_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Best-effort positions of TOML keys and table headers (tomllib gives none).

    A line scanner: it knows headers, dotted and quoted keys, arrays of tables and
    multi-line strings/arrays; keys inside inline tables get their table's position.
    """
    positions: dict[KeyPath, tuple[int, int]] = {}
    table: KeyPath = ()
    aot_index: dict[KeyPath, int] = {}  # array-of-tables path -> current element

    def resolve(segments: Sequence[str]) -> KeyPath:
        out: list[str | int] = []
        for seg in segments:
            out.append(seg)
            index = aot_index.get(tuple(out))
            if index is not None:
                out.append(index)
        return tuple(out)

    open_string: str | None = None
    depth = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        i = 0
        if open_string is not None:
            end = line.find(open_string)
            if end == -1:
                continue
            i, open_string = end + 3, None
            open_string, depth = _toml_scan_value(line, i, depth)
            continue
        if depth:
            open_string, depth = _toml_scan_value(line, 0, depth)
            continue
        i = len(line) - len(line.lstrip(" \t"))
        if line.startswith("[[", i):
            key = _toml_key(line, i + 2)
            if key and line.startswith("]]", key[1]):
                base = (*resolve(key[0][:-1]), key[0][-1])
                aot_index[base] = aot_index.get(base, -1) + 1
                table = (*base, aot_index[base])
                positions.setdefault(base, (lineno, i + 1))
                positions[table] = (lineno, i + 1)
        elif line.startswith("[", i):
            key = _toml_key(line, i + 1)
            if key and line.startswith("]", key[1]):
                table = resolve(key[0])
                positions[table] = (lineno, i + 1)
        elif not line.startswith("#", i):
            key = _toml_key(line, i)
            if key and line.startswith("=", key[1]):
                full: KeyPath = (*table, *key[0])
                positions[full] = (lineno, i + 1)
                open_string, depth = _toml_scan_value(line, key[1] + 1, 0)
    return positions


def _parse_toml(text: str, budget: _Budget) -> ConfigDoc:
    loads = _toml_loads()
    if loads is None:
        raise ConfigError(1, 1, "TOML needs Python 3.11+ (tomllib) or the tomli package")
    try:
        data = loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        message = str(exc)
        m = _TOML_POSITION.search(message)
        if m is None:
            raise ConfigError(1, 1, message) from None
        if m.group(1):
            line, column = int(m.group(1)), int(m.group(2))
        else:
            line, column = _Lines(text).pos(len(text))
        raise ConfigError(line, column, message[: m.start()]) from None
    positions = _toml_positions(text)
    leaves: dict[KeyPath, ConfigValue] = {}

    def where(path: KeyPath) -> tuple[int, int]:
        for end in range(len(path), 0, -1):
            pos = positions.get(path[:end])
            if pos is not None:
                return pos
        return 1, 1

    def walk(value: object, path: KeyPath, depth: int) -> None:
        budget.spend(lambda: where(path))
        if depth > MAX_DEPTH:
            raise ConfigError(*where(path), f"config nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*path, str(key)), depth + 1)
        elif isinstance(value, list) and value:
            for i, child in enumerate(value):
                walk(child, (*path, i), depth + 1)
        else:
            leaves[path] = ConfigValue(path, value, *where(path))

    walk(data, (), 0)
    return ConfigDoc("toml", leaves, [], [])


# --- OmegaConf / Hydra interpolation (issue #16) ---------------------------------

# What a resolver yields is known to the gate only for these. Everything else
# (oc.env, a project's own resolver, oc.dict.*) is decided when the job runs, by
# the environment or by code: an *unknown*, never trusted.
_SELECTING_RESOLVERS = frozenset(["oc.select", "oc.deprecated", "oc.decode", "oc.create"])
# Runtime values Hydra itself supplies (the run directory, the time): opaque but
# not chosen by the change; kept verbatim so a policy can name them.
_VERBATIM_RESOLVERS = frozenset(["hydra", "now"])
_MAX_INTERPOLATION_DEPTH = 32


class Resolved(NamedTuple):
    """A value with its ``${...}`` interpolations resolved as OmegaConf would.

    ``text``: the value, with every unknown part shown as ``<env:NAME>`` or
    ``<resolver:NAME>``; ``unknown``: why parts are unknown (empty: fully known);
    ``resolvers``: every resolver name used, with its raw argument text.
    """

    value: object
    text: str
    unknown: tuple[str, ...]
    resolvers: tuple[tuple[str, str], ...]


def interpolation_end(s: str, i: int) -> int:
    """Index after the ``}`` closing the ``${`` at ``i``; -1 when unbalanced."""
    depth = 0
    j = i
    quote = ""
    while j < len(s):
        ch = s[j]
        if quote:
            if ch == "\\":
                j += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"" and depth:
            quote = ch
        elif s.startswith("${", j):
            depth += 1
            j += 2
            continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _top_level_colon(body: str) -> int:
    depth = 0
    for k, ch in enumerate(body):
        if body.startswith("${", k):
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ":" and depth == 0:
            return k
    return -1


class _Interpolator:
    def __init__(self, leaves: dict[KeyPath, ConfigValue]) -> None:
        self.leaves = leaves
        self.memo: dict[KeyPath, Resolved] = {}
        self.active: set[KeyPath] = set()

    def lookup(self, segments: Sequence[str], base: KeyPath) -> KeyPath | None:
        """The leaf path ``segments`` names below ``base``: "0" may be a list index."""
        paths: list[KeyPath] = [base]
        for seg in segments:
            nxt: list[KeyPath] = []
            for p in paths:
                nxt.append((*p, seg))
                if seg.isdigit():
                    nxt.append((*p, int(seg)))
            paths = nxt[:64]
        return next((p for p in paths if p in self.leaves), None)

    def reference(self, ref: str, at: KeyPath, depth: int) -> Resolved:
        ref = ref.strip()
        dots = len(ref) - len(ref.lstrip("."))
        body = ref[dots:].replace("[", ".").replace("]", "")
        segments = [seg for seg in body.split(".") if seg]
        if dots:
            # ${.x}: a sibling of the node; each further dot goes up one level.
            base: KeyPath = at[: max(len(at) - dots + 1, 0)]
            found = self.lookup(segments, base)
        else:
            found = self.lookup(segments, ())
            if found is None and at and isinstance(at[0], int):
                found = self.lookup(segments, at[:1])  # within one YAML document
        if found is None:
            return Resolved(None, f"<missing:{ref}>", (f"${{{ref}}} names no value",), ())
        return self.resolve(found, depth + 1)

    def expand(self, s: str, at: KeyPath, depth: int) -> Resolved:
        if depth > _MAX_INTERPOLATION_DEPTH:
            return Resolved(None, "<too deep>", ("interpolation nests too deeply",), ())
        parts: list[str] = []
        unknown: list[str] = []
        resolvers: list[tuple[str, str]] = []
        whole: object = None
        i = 0
        while i < len(s):
            start = s.find("${", i)
            if start == -1:
                parts.append(s[i:])
                break
            if start > 0 and s[start - 1] == "\\":
                parts.append(s[i : start - 1] + "${")
                i = start + 2
                continue
            end = interpolation_end(s, start)
            if end == -1:
                parts.append(s[i:])
                unknown.append(f"unbalanced interpolation in {s[start : start + 40]!r}")
                break
            parts.append(s[i:start])
            body = s[start + 2 : end - 1]
            colon = _top_level_colon(body)
            if colon == -1:
                inner = self.expand(body, at, depth + 1)  # ${a.${b}}: the key is built
                if inner.unknown:
                    r = inner
                else:
                    r = self.reference(inner.text, at, depth)
                    r = r._replace(resolvers=inner.resolvers + r.resolvers)
            else:
                r = self.resolver(body[:colon].strip(), body[colon + 1 :], at, depth)
            parts.append(r.text)
            unknown.extend(r.unknown)
            resolvers.extend(r.resolvers)
            whole = r.value
            i = end
        text = "".join(parts)
        alone = s.startswith("${") and interpolation_end(s, 0) == len(s)
        return Resolved(whole if alone else text, text, tuple(unknown), tuple(resolvers))

    def resolver(self, name: str, arg: str, at: KeyPath, depth: int) -> Resolved:
        inner = self.expand(arg, at, depth + 1)
        used = ((name, arg), *inner.resolvers)
        if name in _VERBATIM_RESOLVERS:
            return Resolved(f"${{{name}:{arg}}}", f"${{{name}:{arg}}}", inner.unknown, used)
        if name in _SELECTING_RESOLVERS:
            key, _, default = inner.text.partition(",")
            if name == "oc.decode" or inner.unknown:
                return Resolved(inner.text, inner.text, inner.unknown, used)
            r = self.reference(key.strip().strip("'\""), at, depth)
            if r.text.startswith("<missing:") and default:
                value = default.strip().strip("'\"")
                return Resolved(value, value, (), used)
            return r._replace(resolvers=used + r.resolvers)
        if name == "oc.env":
            var = inner.text.split(",", 1)[0].strip().strip("'\"")
            why = f"${{oc.env:{var}}} is read from the environment when the job runs"
            return Resolved(None, f"<env:{var}>", (*inner.unknown, why), used)
        why = f"resolver {name!r} computes this value when the job runs"
        return Resolved(None, f"<resolver:{name}>", (*inner.unknown, why), used)

    def resolve(self, path: KeyPath, depth: int = 0) -> Resolved:
        done = self.memo.get(path)
        if done is not None:
            return done
        value = self.leaves[path].value
        if not isinstance(value, str) or "${" not in value:
            return Resolved(value, "" if value is None else str(value), (), ())
        if path in self.active or depth > _MAX_INTERPOLATION_DEPTH:
            return Resolved(None, "<cycle>", (f"{format_path(path)} refers to itself",), ())
        self.active.add(path)
        try:
            out = self.expand(value, path[:-1], depth)
        finally:
            self.active.discard(path)
        if not any("too deeply" in why for why in out.unknown):
            self.memo[path] = out  # a truncated result depends on where the walk began
        return out


def resolve_interpolations(doc: ConfigDoc) -> dict[KeyPath, Resolved]:
    """Every string leaf containing ``${...}``, resolved (OmegaConf semantics:
    absolute keys from the root, ``${.x}`` relative to the node's container,
    ``${a.${b}}`` built keys, ``oc.select``/``oc.decode``; ``oc.env`` and any other
    resolver are unknowns). Leaves without interpolation are left out."""
    interp = _Interpolator(doc.leaves)
    return {
        path: interp.resolve(path)
        for path, leaf in doc.leaves.items()
        if isinstance(leaf.value, str) and "${" in leaf.value
    }


# --- diff and key paths ----------------------------------------------------------


def _same(a: object, b: object) -> bool:
    # Type-strict: 1, 1.0 and True are == in Python but a different config value.
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def diff_configs(old: ConfigDoc | None, new: ConfigDoc) -> list[KeyChange]:
    """Leaf-by-leaf changes from ``old`` (None: a new file) to ``new``.

    "added" and "changed" come first, in the new document's order, then "removed"
    in the old document's order. A value turning into a mapping shows as the old
    leaf removed and the new leaves added.
    """
    old_leaves = old.leaves if old is not None else {}
    changes = []
    for path, leaf in new.leaves.items():
        before = old_leaves.get(path)
        if before is None:
            changes.append(KeyChange(path, "added", None, leaf.value, leaf.line, leaf.column))
        elif not _same(before.value, leaf.value):
            changes.append(
                KeyChange(path, "changed", before.value, leaf.value, leaf.line, leaf.column)
            )
    changes.sort(key=lambda c: (c.line, c.column))
    removed = [
        KeyChange(path, "removed", leaf.value, None, leaf.line, leaf.column)
        for path, leaf in old_leaves.items()
        if path not in new.leaves
    ]
    removed.sort(key=lambda c: (c.line, c.column))
    return changes + removed


_UNSAFE_BARE = frozenset(".[]\"'*?")


def format_path(path: Sequence[str | int]) -> str:
    """``optimizer.lr``, ``layers[2].size``; odd keys quoted: ``model["a.b"]``.

    The root is ``(root)``. The output, used as a pattern, matches exactly this path.
    """
    if not path:
        return "(root)"
    out = []
    for seg in path:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif seg and seg.isprintable() and not any(c in _UNSAFE_BARE or c.isspace() for c in seg):
            out.append(f".{seg}" if out else seg)
        else:
            out.append(f"[{json.dumps(seg)}]")  # ASCII-escaped: no bidi tricks in output
    return "".join(out)


_Segment = re.Pattern[str] | None  # None is "**"


@lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> tuple[_Segment, ...]:
    def glob(text: str) -> re.Pattern[str]:
        parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        return re.compile("".join(parts), re.DOTALL)

    segments: list[_Segment] = []
    i, n = 0, len(pattern)
    want_segment = True
    while i < n:
        ch = pattern[i]
        if ch == "[":
            if pattern.startswith('"', i + 1):
                quoted = _JSON_STRING.match(pattern, i + 1)
                if quoted is None:
                    raise ValueError(f"unterminated quoted key in pattern {pattern!r}")
                try:
                    literal, end = str(json.loads(quoted.group())), quoted.end()
                except ValueError:
                    raise ValueError(f"bad quoted key in pattern {pattern!r}") from None
                if not pattern.startswith("]", end):
                    raise ValueError(f"missing ']' in pattern {pattern!r}")
                segments.append(re.compile(re.escape(literal), re.DOTALL))
                i = end + 1
            else:
                end = pattern.find("]", i)
                if end == -1:
                    raise ValueError(f"missing ']' in pattern {pattern!r}")
                segments.append(glob(pattern[i + 1 : end]))
                i = end + 1
            want_segment = False
        elif ch == ".":
            if want_segment:
                raise ValueError(f"empty segment in pattern {pattern!r}")
            want_segment = True
            i += 1
        else:
            if not want_segment:
                raise ValueError(f"expected '.' or '[' in pattern {pattern!r} at {i}")
            end = min(
                (k for k in (pattern.find(".", i), pattern.find("[", i)) if k != -1), default=n
            )
            text = pattern[i:end]
            segments.append(None if text == "**" else glob(text))
            i = end
            want_segment = False
    if want_segment and pattern:
        raise ValueError(f"pattern {pattern!r} ends with '.'")
    return tuple(segments)


def match_key_pattern(pattern: str, path: Sequence[str | int]) -> bool:
    """Whether a key path matches a dot-separated glob.

    Each segment matches one path segment (list indexes included, as their decimal
    text); ``*`` and ``?`` glob within a segment; a ``**`` segment matches zero or
    more segments. ``[2]``, ``[*]`` and ``["a.b"]`` (a literal key) also work, so
    :func:`format_path` output is a valid pattern. A malformed pattern raises
    :class:`ValueError`. Examples: ``**.trust_remote_code``, ``optimizer.**``,
    ``data.*``, ``layers[*].size``.
    """
    segments = _compile_pattern(pattern)
    keys = [str(seg) for seg in path]
    # reachable[k]: pattern prefix matched so far can be followed by keys[k:].
    reachable = [True] + [False] * len(keys)
    for seg in segments:
        if seg is None:
            for k in range(1, len(keys) + 1):
                reachable[k] = reachable[k] or reachable[k - 1]
        else:
            reachable = [False] + [
                reachable[k] and seg.fullmatch(keys[k]) is not None for k in range(len(keys))
            ]
    return reachable[-1]
