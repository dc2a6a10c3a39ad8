"""The pre-tests a unit's ``text`` and ``words`` atoms take on its run of
lines (issue #17): a run holding none of the literals every match of a
``text`` regex needs is not searched (prefilter.Needs.absent_between), and a
word is looked for in place in the case-folded file where that keeps every
position, not in a case-folded copy of each run (gaps.Gaps.run_contains).
Both must answer as the search they stand for: never drop a run that
matches, never find a word the run does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from traingate.checks.semgrep import prefilter, screen
from traingate.checks.semgrep.facts import Facts
from traingate.checks.semgrep.gaps import Gaps

from .test_rules_pack import RULES_DIR

FIXTURES = Path(__file__).parent / "fixtures"


def _atoms(kind: str) -> list[Any]:
    """The values of every ``kind`` atom of the shipped screens."""
    found: list[Any] = []
    for path in sorted(RULES_DIR.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        block = screen._BLOCK.search(text)
        if block is None:
            continue
        body = re.sub(f"(?m)^{block.group(1)}", "", block.group(3))
        todo = [yaml.safe_load(f"screen:{block.group(2)}\n{body}")["screen"]]
        while todo:
            spec = todo.pop()
            if isinstance(spec, list):
                todo += spec
            elif isinstance(spec, dict):
                for key, value in spec.items():
                    if key == kind:
                        found.append(value)
                    elif isinstance(value, list | dict):
                        todo.append(value)
    return found


def _sources() -> list[str]:
    paths = sorted((FIXTURES / "screen").glob("*.py"))
    paths += sorted((FIXTURES / "evasion").rglob("*.py"))[::3]
    return [p.read_text(encoding="utf-8", errors="surrogateescape") for p in paths]


def _runs(source: str) -> list[tuple[int, int]]:
    found = screen.facts(source)
    if found is None:
        return []
    return [u.run for u in found.units() if isinstance(u, Facts) and u.run is not None]


def _constant(s: str) -> Callable[[], str]:
    return lambda: s


def test_a_run_without_the_needed_literals_never_holds_a_match() -> None:
    regexes = [re.compile(p) for p in _atoms("text")]
    assert len(regexes) > 20  # the pack's text atoms are read
    checked = skipped = 0
    for source in _sources():
        lowered = _constant(source.lower())
        for start, end in _runs(source):
            for rx in regexes:
                need = prefilter.needs(rx)
                absent = need.absent_between(source, start, end, lowered)
                checked += 1
                if absent:
                    skipped += 1
                    assert rx.search(source, start, end) is None, (rx.pattern, start, end)
    assert checked > 1000 and skipped > checked // 4  # the pre-test is exercised


@pytest.mark.parametrize(
    ("pattern", "text", "absent"),
    [
        # (?i) without (?a): the Kelvin sign matches k, and lowering moves
        # positions outside ASCII: a text that is not ASCII is searched.
        (r"(?i)rank", "x = 1\n\u212aRANK = 2\n", False),
        (r"(?i)rank", "x = 1\nRANK = 2\n", False),
        (r"(?i)rank", "x = 1\nRANQ = 2\n", True),
        (r"(?ai)rank", "\u0130\u0130\u0130 = 1\nrank = 2\n", False),
        # a lookbehind may read before the run: its literal is no need
        (r"(?<=\n)defg", "abc\ndefg", False),
        (r"(?<=\n)defg", "abc\ndef", True),
        (r"[^\x00-\x7f]rank", "x = 1\nrank\n", True),
        (r"[^\x00-\x7f]rank", "x = \u00e9\nrank\n", False),
    ],
)
def test_absent_between_on_shapes(pattern: str, text: str, absent: bool) -> None:
    rx = re.compile(pattern)
    need = prefilter.needs(rx)
    start = text.index("\n") + 1  # the second line on: the run
    lowered = text.lower()
    assert need.absent_between(text, start, len(text), lambda: lowered) is absent
    if absent:
        assert rx.search(text, start, len(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "def f():\n    x = RANK\n\ndef g():\n    y = 2\n",
        # not ASCII: case folding changes lengths (ß is ss), so each run is
        # folded on its own as before
        "def f():\n    x = 'stra\u00dfe'\n\ndef g():\n    y = \u017fomething  # \u212aelvin\n",
    ],
)
def test_run_contains_is_the_word_in_the_run_case_folded(text: str) -> None:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    spans = [(a, b) for a in starts for b in starts if a < b]
    words = ["rank", "x = ", "strasse", "something", "kelvin", "def", "y = 2\n", "\u00df"]
    words = [w.casefold() for w in words]
    for a, b in spans:
        gaps = Gaps(text, [])
        memo: dict[str, Any] = {}
        for w in words:
            want = w in text[a:b].casefold()
            assert gaps.run_contains(w, (a, b), memo) is want, (w, a, b)
