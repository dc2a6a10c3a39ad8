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

``Finder(rx)`` searches as ``rx.search`` does, faster where every match of
``rx`` starts at a line start (``^`` under MULTILINE leads every branch: the
``string`` atoms' fragment regexes, ``^(l|lo|loa|load)$``). sre tries such
a regex at every position of a literal; prefixed with a ``\\n`` it has a
literal to scan for and is tried at line starts only (issue #17: ~1 s of
``string`` atoms on the large corpus). A match of ``rx`` at ``p`` is one of
``\\n(?:rx)`` at ``p - 1`` (``^`` holds at ``p`` exactly when ``p`` is 0 or
follows a ``\\n``; the rest of ``rx`` reads the same string at the same
positions, lookbehinds included), and position 0 is tried with ``match``.
"""

from __future__ import annotations

import re
import sys
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

    def absent_between(self, text: str, start: int, end: int, lowered: Callable[[], str]) -> bool:
        """Whether ``text[start:end]`` holds none of the needs: then the regex
        cannot match there (``search(text, start, end)``: a need is consumed by
        the match, never only looked around at). Issue #17: a unit's run of
        lines, mostly without the literal that its file holds somewhere.
        Lowered, a text keeps its positions only when it is ASCII."""
        ascii_text = text.isascii()
        if not self.strings or (self.fold and not ascii_text):
            return False
        hay = lowered() if self.fold else text
        for s in self.strings:
            if s == NON_ASCII:
                if not ascii_text:
                    return False
            elif hay.find(s, start, end) >= 0:
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


def literal_led(pattern: str) -> bool:
    """Whether every match of ``pattern`` starts with one literal character
    sre looks for as a prefix (one of no case, or the regex not ignoring
    case): sre then skips to where it may match instead of trying the whole
    regex at every position (issue #17: screen.py's cost order puts such a
    ``text`` atom before one without). False for anything unforeseen."""
    try:
        tree = _parser.parse(pattern, 0)
        items = list(tree)
        if not items or items[0][0] is not c.LITERAL:
            return False
        ch = chr(items[0][1])
        return not int(tree.state.flags) & c.SRE_FLAG_IGNORECASE or ch.lower() == ch.upper()
    except Exception:
        return False


class Finder:
    """``rx.search`` with a ``\\n``-led twin for a regex whose every match
    starts at a line start, and a search per branch of a top-level ``A|B``
    where that makes every branch fast (module docstring); ``rx`` as is
    otherwise."""

    __slots__ = ("_parts", "rx")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        nl = _at_lines(rx)
        parts: list[tuple[re.Pattern[str], re.Pattern[str] | None]] = [(rx, nl)]
        if nl is None:
            split = _branches(rx)
            if split is not None:
                parts = split
        self._parts = tuple(parts)

    # Equal as their regexes are: rules share text atoms, and a unit's gaps
    # (gaps.Gaps) keep one answer a regex for every unit of the file.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finder) and other.rx == self.rx

    def __hash__(self) -> int:
        return hash(self.rx)

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        for rx, nl in self._parts:
            if nl is None:
                found = rx.search(text, pos, endpos)
            elif pos <= 0:
                found = rx.match(text, 0, endpos)
                if found is None:
                    found = nl.search(text, 0, endpos)
            else:
                found = nl.search(text, pos - 1, endpos)
            if found is not None:
                return found
        return None


_LEAD_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))*")


def _at_lines(rx: re.Pattern[str]) -> re.Pattern[str] | None:
    """``\\n(?:rx)`` when every match of ``rx`` starts at a line start, else None."""
    try:
        if rx.flags & re.VERBOSE:
            return None  # a comment could swallow the closing parenthesis
        tree = _parser.parse(rx.pattern, rx.flags)
        if not _line_start(list(tree), int(tree.state.flags)):
            return None
        lead = _LEAD_FLAGS.match(rx.pattern)
        head = lead.group() if lead else ""
        twin = re.compile(f"{head}\\n(?:{rx.pattern[len(head) :]})", rx.flags)
        if twin.groups != rx.groups or twin.groupindex != rx.groupindex:
            return None
        return twin
    except Exception:  # anything unforeseen: searched as before
        return None


def _branches(
    rx: re.Pattern[str],
) -> list[tuple[re.Pattern[str], re.Pattern[str] | None]] | None:
    """The top-level branches of ``rx`` (``A|B``: a match of one is a match
    of ``rx``, and a match of ``rx`` is one of a branch) each compiled on its
    own, when some branch starts at a line start and every other one with a
    literal or a class (sre then skips to where it may match); else None.
    A pattern with a backreference or a comment is not split."""
    try:
        if rx.flags & re.VERBOSE or "(?#" in rx.pattern:
            return None
        lead = _LEAD_FLAGS.match(rx.pattern)
        head = lead.group() if lead else ""
        bodies = _split_bars(rx.pattern[len(head) :])
        if bodies is None or len(bodies) < 2:
            return None
        out: list[tuple[re.Pattern[str], re.Pattern[str] | None]] = []
        groups = 0
        for body in bodies:
            part = re.compile(head + body, rx.flags)
            groups += part.groups
            tree = _parser.parse(part.pattern, part.flags)
            if _has_ref(list(tree)):
                return None
            nl = _at_lines(part)
            if nl is None and not _led(list(tree)):
                return None
            out.append((part, nl))
        if groups != rx.groups or not any(nl is not None for _, nl in out):
            return None
        return out
    except Exception:  # anything unforeseen: searched as before
        return None


def _split_bars(body: str) -> list[str] | None:
    """``body`` split at its top-level ``|`` (outside groups and classes)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < n and body[i] == "^":
                i += 1
            if i < n and body[i] == "]":
                i += 1  # a ] first in a class is a literal
            while i < n and body[i] != "]":
                i += 2 if body[i] == "\\" else 1
            if i >= n:
                return None
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    if depth:
        return None
    parts.append(body[start:])
    return parts


def _has_ref(items: list[Any]) -> bool:
    for op, av in items:
        if op is c.GROUPREF or op is c.GROUPREF_EXISTS:
            return True
        if op is c.SUBPATTERN and _has_ref(list(av[3])):
            return True
        if op in _REPEATS and _has_ref(list(av[2])):
            return True
        if op is c.BRANCH and any(_has_ref(list(alt)) for alt in av[1]):
            return True
        if (op is c.ASSERT or op is c.ASSERT_NOT) and _has_ref(list(av[1])):
            return True
        if op is c.ATOMIC_GROUP and _has_ref(list(av)):
            return True
    return False


def _led(items: list[Any]) -> bool:
    """Whether every match of ``items`` starts with a literal or a class."""
    if not items:
        return False
    op, av = items[0]
    if op is c.LITERAL or op is c.IN:
        return True
    if op is c.SUBPATTERN:
        return _led(list(av[3]))
    if op is c.BRANCH:
        return all(_led(list(alt)) for alt in av[1])
    return False


def _line_start(items: list[Any], flags: int) -> bool:
    """Whether every match of ``items`` starts with ``^`` under MULTILINE."""
    if not items:
        return False
    op, av = items[0]
    if op is c.AT:
        return av is c.AT_BEGINNING and bool(flags & c.SRE_FLAG_MULTILINE)
    if op is c.SUBPATTERN:
        _, add, drop, sub = av
        return _line_start(list(sub), (flags | add) & ~drop)
    if op is c.BRANCH:
        return all(_line_start(list(alt), flags) for alt in av[1])
    return False
