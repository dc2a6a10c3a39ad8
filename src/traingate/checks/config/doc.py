"""A parsed config: positioned leaves, duplicate keys, unsafe tags, key changes, errors."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import NamedTuple

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
