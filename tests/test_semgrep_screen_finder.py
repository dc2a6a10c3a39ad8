"""prefilter.Finder finds a match exactly where its regex does (issue #17).

A regex whose every match starts at a line start (``^`` under MULTILINE) is
searched as ``\\n(?:rx)`` from one position back, and position 0 with
``match``; a top-level ``A|B`` whose branches are each fast that way (or
start with a literal or a class) is searched branch by branch. Checked on
every shipped screen regex against the fixtures and corners, at the start
of a text and from inside it (a unit's run: ``search(text, pos, endpos)``).
"""

from __future__ import annotations

import re

import pytest

from traingate.checks.semgrep.prefilter import Finder

from .test_semgrep_screen_shortcuts import _ITEMS, _regexes, _sources


@pytest.mark.parametrize(
    ("pattern", "flags", "parts"),
    [
        (r"^(l|lo|loa|load)$", re.M, ["nl"]),
        (r"(?im)^[^#\n]*+#x", 0, ["nl"]),
        (r"^x", 0, ["plain"]),  # ^ without MULTILINE: sre tries the start only
        (r"(?-m:^x)", re.M, ["plain"]),
        (r"\Ax", re.M, ["plain"]),
        (r"x^", re.M, ["plain"]),
        (r"(^a|^b)c", re.M, ["nl"]),
        (r"(^a|b)c", re.M, ["plain"]),
        (r"(?i)^a(?:b|c)$|hooksp", re.M, ["nl", "plain"]),
        (r"^a|[\\/]b", re.M, ["nl", "plain"]),
        (r"^a|\bexec", re.M, ["plain"]),  # \b leads: no skip, no split
        (r"\bexec\b|\beval\b", 0, ["plain"]),
        (r"^a[|]|b\|c", re.M, ["nl", "plain"]),  # a | in a class or escaped splits nothing
        (r"^(a)|\1", re.M, ["plain"]),  # a backreference: never split
        (r"(?x)^a # x|y", re.M, ["plain"]),  # verbose: never rewritten
    ],
)
def test_finder_shapes(pattern: str, flags: int, parts: list[str]) -> None:
    found = Finder(re.compile(pattern, flags))
    shapes = ["nl" if nl is not None else "plain" for _, nl in found._parts]
    if parts == ["plain"]:
        assert shapes == ["plain"] and found._parts[0][0] is found.rx
    else:
        assert shapes == parts


def _texts() -> list[str]:
    corners = ["\n".join(c) for c in zip(_ITEMS, _ITEMS[1:], _ITEMS[2:], strict=False)]
    return _sources() + corners + ["", "\n", "\n\n", "load", "x\nload", "loadx\nload\n"]


def test_a_finder_finds_where_its_regex_does() -> None:
    fast = [(rx, f) for rx in _regexes() if (f := Finder(rx))._parts != ((rx, None),)]
    assert len(fast) > 40  # the shipped fragment regexes, and a few text atoms
    checked = 0
    for text in _texts():
        line_start = text.find("\n") + 1
        spans = [(0, len(text)), (line_start, len(text)), (1, max(1, len(text) // 2))]
        spans.append((len(text) // 3, len(text)))
        for rx, f in fast:
            for pos, end in spans:
                want = rx.search(text, pos, end) is not None
                assert (f.search(text, pos, end) is not None) is want, (rx.pattern, pos, end)
                checked += 1
    assert checked > 50_000
