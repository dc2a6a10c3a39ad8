"""Whether a regex reads one line at a time (issue #17: a unit's names and
literals are searched in the part every unit shares once per file, and in
each unit's own part, instead of in their union once per unit).

A ``name-regex`` or ``string`` atom searches its items joined by ``"\\n"``. A
regex is *line-local* when nothing in it can consume a ``"\\n"`` (each
literal, class, ``.`` and backreference excludes it, in lookarounds too) and
its only anchors are those that hold alike at a ``"\\n"`` and at the
string's edge: ``^`` and ``$`` under MULTILINE, and ``\\b`` (``"\\n"`` is
no word character; not ``\\B``, which sre never holds in an empty string).
Then no match spans a ``"\\n"``, and what a match reads of its neighbours (a
lookbehind past the line's start, a ``\\b``) reads a ``"\\n"`` exactly where
a line on its own would read its edge: the regex finds a match in
``"\\n".join(items)`` if and only if it finds one in some line of it, so in
``"\\n".join(a)`` or ``"\\n".join(b)`` where ``items`` is ``a + b`` (both
non-empty: an empty list joins to one empty line). Anything this does not
recognise is not line-local, and is searched as before.
"""

from __future__ import annotations

import re
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

_NL = ord("\n")
# Categories (\s, \W, \D, ...) that hold "\n".
_HOLDS_NL = frozenset(
    {c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD, c.CATEGORY_NOT_DIGIT, c.CATEGORY_LINEBREAK}
)
_CATEGORIES = _HOLDS_NL | {
    c.CATEGORY_DIGIT,
    c.CATEGORY_WORD,
    c.CATEGORY_NOT_SPACE,
    c.CATEGORY_NOT_LINEBREAK,
}
_LINE_ANCHORS = frozenset({c.AT_BEGINNING, c.AT_END})  # ^ and $: line-local under M only
_EDGE_ALIKE = frozenset({c.AT_BOUNDARY})
_REPEATS = frozenset({c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT})


def line_local(rx: re.Pattern[str]) -> bool:
    """Whether ``rx`` finds a match in lines joined by "\\n" exactly when it
    finds one in one of them, searched on its own (module docstring)."""
    try:
        tree = _parser.parse(rx.pattern, rx.flags)
        return _local(list(tree), int(tree.state.flags))
    except Exception:  # anything unforeseen: not line-local (searched as before)
        return False


def _local(items: list[Any], flags: int) -> bool:
    for op, av in items:
        if op is c.LITERAL:
            ok = av != _NL
        elif op is c.NOT_LITERAL:
            ok = av == _NL
        elif op is c.ANY:
            ok = not flags & c.SRE_FLAG_DOTALL
        elif op is c.IN:
            ok = not _class_holds_nl(av)
        elif op is c.AT:
            ok = av in _EDGE_ALIKE or (av in _LINE_ANCHORS and bool(flags & c.SRE_FLAG_MULTILINE))
        elif op in _REPEATS:
            ok = _local(list(av[2]), flags)
        elif op is c.SUBPATTERN:
            _, add, drop, sub = av
            ok = _local(list(sub), (flags | add) & ~drop)
        elif op is c.BRANCH:
            ok = all(_local(list(alt), flags) for alt in av[1])
        elif op is c.ATOMIC_GROUP:
            ok = _local(list(av), flags)
        elif op is c.ASSERT or op is c.ASSERT_NOT:
            ok = _local(list(av[1]), flags)
        elif op is c.GROUPREF:
            ok = True  # the group's own text: it holds no "\n" if the rest is local
        elif op is c.GROUPREF_EXISTS:
            _, yes, no = av
            ok = _local(list(yes), flags) and (no is None or _local(list(no), flags))
        else:
            ok = False
        if not ok:
            return False
    return True


def _class_holds_nl(items: list[Any]) -> bool:
    """Whether a ``[...]`` class admits "\\n"; unknown items: assume it does."""
    negate = False
    found = False
    for op, av in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            found |= av == _NL
        elif op is c.RANGE:
            found |= av[0] <= _NL <= av[1]
        elif op is c.CATEGORY and av in _CATEGORIES:
            found |= av in _HOLDS_NL
        else:
            return True
    return found != negate
