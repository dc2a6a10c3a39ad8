"""Where a unit's ``text`` and ``words`` atoms read the raw text (facts.py,
issue #17); here so that facts.py stays under 600 lines."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any, Protocol

_LINE_END = re.compile(r"\r\n|\r|\n")


class Searcher(Protocol):
    """A compiled regex, or prefilter.Finder (the same search, faster)."""

    def search(self, text: str, pos: int = ..., endpos: int = ...) -> re.Match[str] | None: ...


class Gaps:
    """Where the text and words atoms read a unit's raw text (issue #17).

    A *gap* is a run of lines no outermost function holds; a unit reads every
    gap and its own *run*: the gap before its function, the function, and the
    gap after it, as they stand in the file. Each run is searched on its own:
    no text the file does not hold next to it is put next to it, so a regex
    costs on a run no more than it may on the file around it. (A view of the
    file with the other units' lines blanked let ``\\s*`` run from one gap
    into the next: ``"]`` at class level, then the blank lines of 50 methods,
    then a ``####`` banner, sent ``(?:\\s|#[^\\n]*)*==`` into exponential
    backtracking for >10 min on a 4,000-line modeling file.) What a regex
    must find for semgrep's match lies in the unit's code, so in one of its
    runs as the file holds it: nothing is lost. A run's end is the text's end
    to a regex (``$`` and ``\\Z`` hold there): only more admits; before its
    start a regex sees the file itself (lookbehind, ``\\b``)."""

    def __init__(self, text: str, spans: list[tuple[int, int]]) -> None:
        starts = line_starts(text)

        def at(line: int) -> int:  # where a 1-based line starts
            return starts[line - 1] if line <= len(starts) else len(text)

        firsts = [at(end + 1) for _, end in [(0, 0), *spans]]
        lasts = [at(first) for first, _ in spans] + [len(text)]
        self.text = text
        self.gaps = [(a, b) for a, b in zip(firsts, lasts, strict=True) if a < b]
        self.runs = [(firsts[i], lasts[i + 1]) for i in range(len(spans))]
        self._found: dict[Searcher, bool] = {}
        self._folded: list[str] | None = None
        # A word's answer is every unit's: once a file, not once a unit
        # (issue #17: ~6 M generator steps over the gaps on the large corpus).
        self._has: dict[str, bool] = {}
        self._ascii_folded: str | None = None  # run_contains: "" for a text not ASCII

    def search(self, rx: Searcher) -> bool:
        """Whether ``rx`` matches in some gap: then in every unit."""
        if rx not in self._found:
            self._found[rx] = any(rx.search(self.text, a, b) for a, b in self.gaps)
        return self._found[rx]

    def contains(self, word: str) -> bool:
        """Whether ``word`` (case-folded) is in some case-folded gap."""
        found = self._has.get(word)
        if found is None:
            if self._folded is None:
                self._folded = [self.text[a:b].casefold() for a, b in self.gaps]
            found = self._has[word] = any(word in gap for gap in self._folded)
        return found

    def run_contains(self, word: str, run: tuple[int, int], memo: dict[str, Any]) -> bool:
        """Whether ``word`` (case-folded) is in the case-folded ``run``: found
        in place in the whole text case-folded once, where that keeps every
        position (ASCII), not in a copy of each unit's run (issue #17); else
        in the run's own copy, kept in the unit's ``memo``."""
        if self._ascii_folded is None:
            self._ascii_folded = self.text.casefold() if self.text.isascii() else ""
        if self._ascii_folded:
            return self._ascii_folded.find(word, *run) >= 0
        if "folded" not in memo:
            memo["folded"] = self.text[run[0] : run[1]].casefold()
        return word in memo["folded"]


def line_starts(text: str) -> list[int]:
    """Where each line starts (a line ends at \\r\\n, \\r or \\n), and the
    text's end after a final line end. With no \\r (most files) summed from
    str.split's lengths (issue #17: a match object a line cost ~1 CPU s a
    corpus scan)."""
    if "\r" in text:
        return [0] + [m.end() for m in _LINE_END.finditer(text)]
    return list(accumulate(map((1).__add__, map(len, text.split("\n")[:-1])), initial=0))
