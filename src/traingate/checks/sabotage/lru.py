"""What a helper's text gives (its parsed facts, its outline), kept for the run by the
length of the texts held, not by their count (issue #17).

A scan asks ~600 helper texts in no order, ~420 of them parsed: with 16 trees kept,
a helper imported from files far apart was parsed again (513 parses for 418 texts
in a scan of the large corpus), and with 32 outlines kept, outlined again (720
outlines for 607 texts). Most helpers are small: a bound on the texts' total
length keeps many of them, and still only a few of the largest (a parsed helper
holds 20-30 times its text). The least recently used entry goes first; ``least``
entries always stay (the old count bound), whatever their length.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Info(NamedTuple):
    """``functools.lru_cache``'s ``cache_info()``, and the texts' length held."""

    hits: int
    misses: int
    currsize: int
    length: int


class ByLength(Generic[T]):
    """A least-recently-used cache bounded by the total length of its entries' texts."""

    def __init__(self, budget: int, least: int) -> None:
        self.budget = budget  # characters of text held, beyond the ``least`` entries
        self.least = least
        self._got: dict[Hashable, tuple[T, int]] = {}  # insertion order: least recent first
        self._length = 0
        self._hits = self._misses = 0

    def get(self, key: Hashable, length: int, make: Callable[[], T]) -> T:
        """The entry of ``key`` (a text ``length`` long), made by ``make`` on a miss."""
        got = self._got.pop(key, None)
        if got is not None:
            self._hits += 1
            self._got[key] = got  # now the most recent
            return got[0]
        self._misses += 1
        value = make()
        self._got[key] = (value, length)
        self._length += length
        while len(self._got) > self.least and self._length > self.budget:
            self._length -= self._got.pop(next(iter(self._got)))[1]
        return value

    def cache_clear(self) -> None:
        self._got.clear()
        self._length = 0
        self._hits = self._misses = 0

    def cache_info(self) -> Info:
        return Info(self._hits, self._misses, len(self._got), self._length)
