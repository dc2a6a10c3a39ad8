"""YAML configs: walk the composed nodes (nothing constructed but core scalars)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from traingate.checks.config.doc import (
    MAX_DEPTH,
    ConfigDoc,
    ConfigError,
    ConfigValue,
    KeyPath,
    _Budget,
    _Lines,
)
from traingate.yamlsafe import (
    MAPPING_TAGS,
    MERGE_TAG,
    SCALAR_TAGS,
    SEQUENCE_TAGS,
    VALUE_TAG,
    ComposeLoader,
    short_tag,
    unalias,
)


class _Entry(NamedTuple):
    key: str
    key_mark: Mark
    value: Node
    at: Mark | None  # alias through which the value is reached, if any
    duplicate: bool


class _YamlWalker:
    def __init__(self, text: str, loader: ComposeLoader, budget: _Budget) -> None:
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
        if node.tag in (VALUE_TAG, MERGE_TAG):
            # Plain `=` and `<<` resolve to tags safe_load has no constructor for.
            msg = f"yaml.safe_load cannot load a plain {node.value!r} here; quote it"
            raise self.error(node.start_mark, msg)
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # any failure of PyYAML's scalar constructors
            msg = f"invalid {short_tag(node.tag)} value {node.value[:40]!r}"
            if isinstance(exc, ValueError):
                msg += f": {exc}"
            raise self.error(node.start_mark, msg) from None

    def record_tag(self, node: Node, path: KeyPath, depth: int) -> None:
        """Report a non-core tag, and any nested inside it, without constructing."""
        if id(node) in self._tagged:
            return
        self._tagged.add(id(node))
        self.tags.append(ConfigValue(path, short_tag(node.tag), *self.pos(node.start_mark)))
        self._scan_for_tags(node, path, depth)

    def _scan_for_tags(self, node: Node, path: KeyPath, depth: int) -> None:
        self._active.add(id(node))
        try:
            for child in self._children(node):
                child, _ = unalias(child, None)
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
            return node.tag in SCALAR_TAGS or node.tag in (VALUE_TAG, MERGE_TAG)
        if isinstance(node, SequenceNode):
            return node.tag in SEQUENCE_TAGS
        return isinstance(node, MappingNode) and node.tag in MAPPING_TAGS

    def source(self, node: Node) -> str:
        return self.text[node.start_mark.index : node.end_mark.index].strip()

    def walk(self, node: Node, path: KeyPath, at: Mark | None, emit: bool, depth: int) -> object:
        """Record the leaves under ``node`` (if ``emit``) and return its plain value.

        ``at`` is the alias that brought the walk here: leaves below an alias take
        its position. ``emit`` is False under a duplicate key that a later one
        overrides: those leaves are not in the result, but their tags still count
        (an unsafe loader would construct them before discarding).
        """
        node, at = unalias(node, at)
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
            key, _ = unalias(key_node, None)
            if isinstance(key, ScalarNode) and key.tag == MERGE_TAG:
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
        value, at = unalias(value, at)
        items = [(value, at)]
        if isinstance(value, SequenceNode):
            items = [unalias(item, at) for item in value.value]
        sources = []
        for item, item_at in items:
            if not isinstance(item, MappingNode):
                raise self.error(
                    item_at or item.start_mark, "a merge key (<<) needs a mapping or a list of them"
                )
            if item.tag not in MAPPING_TAGS:
                self.record_tag(item, path, 0)
            sources.append((item, item_at))
        return sources

    def key_name(self, key: Node, path: KeyPath, depth: int) -> str:
        """A mapping key as a path segment: always ``str``, so keys never look like
        list indexes. Non-string scalars use their YAML spelling, canonical where
        PyYAML would make them equal (``yes``/``on``/``true`` are all "true")."""
        if isinstance(key, ScalarNode) and key.tag == VALUE_TAG:
            return str(key.value)  # PyYAML reads a plain `=` key as the string "="
        if isinstance(key, ScalarNode) and key.tag in SCALAR_TAGS:
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
        loader = ComposeLoader(text)
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
