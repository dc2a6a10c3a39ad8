"""TOML configs: ``tomllib`` values, positions recovered from the text."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from traingate.checks.config.doc import (
    MAX_DEPTH,
    ConfigDoc,
    ConfigError,
    ConfigValue,
    KeyPath,
    _Budget,
    _Lines,
)


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
