"""JSON configs with positions and duplicate keys; JSONC (comments, trailing commas) by file name."""

from __future__ import annotations

import json
import math
import re
from typing import NamedTuple

from traingate.checks.config.doc import (
    MAX_DEPTH,
    ConfigDoc,
    ConfigError,
    ConfigValue,
    KeyPath,
    _Budget,
    _Lines,
)

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
