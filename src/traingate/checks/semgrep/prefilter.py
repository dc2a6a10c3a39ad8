"""Literals a regex cannot match without (issue #17: a ``text`` or ``string``
atom's regex over a large file, where one ``in`` test tells it cannot match).

``needs(rx)`` reads the regex's syntax tree for a set of strings, one of which
every match holds as written: a run of literal characters that every path
through the regex takes (in a repeat only if it repeats at least once; in an
alternation one run from each branch). Under IGNORECASE a run is kept in
lower case, of ASCII characters only, and is looked for in the text lowered:
an ASCII character matches an ASCII one case-insensitively only as its
other case, and lowering maps each character of a text on its own (ASCII to
ASCII), so a match's lowered text stands in the lowered text. Without the
ASCII flag, a non-ASCII text character may match an ASCII letter (K, the
Kelvin sign, matches k): a text that is not ASCII is searched with no
pre-test. ``[^\\x00-\\x7f]`` needs a character outside ASCII
(``NON_ASCII``): an ASCII text cannot match. Anything else needs nothing
this can say, and the regex runs as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

NON_ASCII = "\x00non-ascii"  # a need: some character outside ASCII
_REPEATS = frozenset({c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT})
_MOST = 12  # needs: more alternatives than this are not tested


class Needs:
    """What a regex needs: strings (lower case when ``fold``), one of which
    each match holds; an empty Needs means nothing is known."""

    def __init__(self, strings: frozenset[str], fold: bool, ascii_only: bool) -> None:
        self.strings = strings
        self.fold = fold  # look in the lowered text
        self.ascii_only = ascii_only  # (?a): non-ASCII text needs no care

    def absent(self, text: str, lowered: Callable[[], str]) -> bool:
        """Whether ``text`` holds none of the needs: then the regex cannot
        match in it (nor in any part of it). ``lowered()``: ``text.lower()``."""
        if not self.strings:
            return False
        ascii_text = text.isascii()
        if self.fold and not (ascii_text or self.ascii_only):
            return False  # a non-ASCII character may match an ASCII letter
        hay = lowered() if self.fold else text
        for s in self.strings:
            if s == NON_ASCII:
                if not ascii_text:
                    return False
            elif s in hay:
                return False
        return True


_NOTHING = Needs(frozenset(), False, False)


def needs(rx: re.Pattern[str]) -> Needs:
    """The literals every match of ``rx`` holds one of (module docstring)."""
    try:
        tree = _parser.parse(rx.pattern, rx.flags)
        flags = int(tree.state.flags)
        found = _seq(list(tree), flags)
    except Exception:  # anything unforeseen: nothing is known
        return _NOTHING
    if not found or len(found) > _MOST or _score(found)[0] < 2:
        return _NOTHING  # a test of one character, or of many, costs more than it saves
    strings = frozenset(s for s, _ in found)
    folds = {f for s, f in found if s != NON_ASCII}  # NON_ASCII: either way
    if len(folds) > 1:
        return _NOTHING  # case-sensitive and not, mixed: keep it simple
    return Needs(strings, folds.pop() if folds else False, bool(flags & c.SRE_FLAG_ASCII))


_Need = frozenset[tuple[str, bool]]  # (string, looked for lowered)


def _seq(items: list[Any], flags: int) -> _Need | None:
    """The best need of a sequence: of its literal runs or of one element."""
    options: list[_Need] = []
    run: list[str] = []
    fold = bool(flags & c.SRE_FLAG_IGNORECASE)

    def close() -> None:
        if run:
            options.append(frozenset({("".join(run), fold)}))
            run.clear()

    for op, av in items:
        if op is c.LITERAL and (not fold or av < 128):
            run.append(chr(av).lower() if fold else chr(av))
            continue
        close()
        got = _one(op, av, flags)
        if got:
            options.append(got)
    close()
    return max(options, key=_score, default=None)


def _score(need: _Need) -> tuple[int, int]:
    shortest = min(4 if s == NON_ASCII else len(s) for s, _ in need)
    return min(shortest, 4), -len(need)


def _one(op: Any, av: Any, flags: int) -> _Need | None:
    if op is c.SUBPATTERN:
        _, add, drop, sub = av
        return _seq(list(sub), (flags | add) & ~drop)
    if op is c.ATOMIC_GROUP:
        return _seq(list(av), flags)
    if op in _REPEATS:
        least, _, sub = av
        return _seq(list(sub), flags) if least >= 1 else None
    if op is c.BRANCH:
        found: set[tuple[str, bool]] = set()
        for alt in av[1]:
            got = _seq(list(alt), flags)
            if not got:
                return None
            found |= got
        return frozenset(found)
    if op is c.IN and _outside_ascii(av):
        return frozenset({(NON_ASCII, False)})
    return None


def _outside_ascii(items: list[Any]) -> bool:
    """``[^\\x00-\\x7f]`` (or a wider range): only characters outside ASCII."""
    return (
        len(items) == 2
        and items[0][0] is c.NEGATE
        and items[1][0] is c.RANGE
        and items[1][1][0] == 0
        and items[1][1][1] >= 127
    )
