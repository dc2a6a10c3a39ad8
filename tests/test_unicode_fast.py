"""The unicode check's shortcuts on large files (issue #17) find what it found.

Pure-ASCII text is searched for its ASCII candidates only (the controls), with
a class derived from the full one. The Python lexer stops after the last
non-ASCII or ESC character; what it finds is what it found lexing to the end.

Past that character no identifier can be non-ASCII and no literal can hold a
confusable word or a colour escape, so nothing is lost, as long as the lexer
stops only in plain code: a literal or f-string field open there runs on.
The attacker's side: put the one finding at the very end of a long file,
inside a literal or field opened before it, after a harmless non-ASCII header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traingate.checks.unicode import invisible, scan
from traingate.checks.unicode.identifiers import _python_identifiers
from traingate.checks.unicode.scan import UnicodeIssue, scan_text
from traingate.checks.unicode.tables import _CANDIDATES

from .fuzz import fuzz

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / ".cache" / "large" / "src"


def _to_the_end(
    text: str, strings: list[tuple[int, int]] | None = None, stop: int | None = None
) -> Iterator[tuple[int, int]]:
    return _python_identifiers(text, strings)  # the lexer before issue #17


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[UnicodeIssue], ...]:
    fast = scan_text(text, python=True)
    with monkeypatch.context() as m:
        m.setattr(scan, "_python_identifiers", _to_the_end)
        full = scan_text(text, python=True)
    return fast, full


def where(issues: list[UnicodeIssue]) -> list[tuple[str, int, int]]:
    return [(i.rule_id, i.line, i.column) for i in issues]


HEADER = "# Copyright © 2024\n" + "x = 1\n" * 2000


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        # a confusable identifier on the last line
        ("ｅｘｅｃ('1')\n", [("unicode-confusable-identifier", 2002, 1)]),
        # a colour escape at the end of a literal opened lines before
        ('s = """\n' + "a\n" * 50 + '\x1b[31m"""\n', [("unicode-terminal-escape", 2053, 1)]),
        # a mixed-script host inside an f-string field's nested literal
        (
            "u = f\"{get('huggingfаce.co')}\"\n",
            [("unicode-confusable-string", 2002, 21)] * 2,  # the field's literal, the f-string
        ),
        # the last non-ASCII character is in a comment; an identifier after it is ASCII
        ("# é\nexec('1')\n", []),
        # a zero-width space, found by the scan that does not lex
        ("def f():\n    return e\u200bval\n", [("unicode-invisible", 2003, 13)]),
    ],
)
def test_a_finding_at_the_end_is_kept(
    tail: str, expected: list[tuple[str, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, full = _both(HEADER + tail, monkeypatch)
    assert fast == full
    assert where(fast) == expected


def test_the_lexer_stops_early() -> None:
    """The point of it: a file whose only non-ASCII character is in its header
    is not lexed to the end (the last literal is not collected)."""
    text = "# ©\n" + "s = 'a'\n" * 100
    strings: list[tuple[int, int]] = []
    list(_python_identifiers(text, strings, stop=4))
    assert len(strings) <= 1  # at most the literal its last search landed on
    everything: list[tuple[int, int]] = []
    list(_python_identifiers(text, everything))
    assert len(everything) == 100


def _texts() -> list[Path]:
    files = sorted((ROOT / "tests" / "fixtures").rglob("*.py"))
    if CORPUS.is_dir():
        files += sorted(CORPUS.rglob("*.py"))[::50]
    return files


def test_same_issues_on_fixtures_and_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    differ = []
    for path in _texts():
        text = path.read_bytes().decode("utf-8", "replace")
        fast, full = _both(text, monkeypatch)
        if fast != full:
            differ.append(str(path.relative_to(ROOT)))
    assert differ == []


_ALPHABET = st.sampled_from(
    list("abcxyz_019 ()[]{}:!=#'\"\\\r\nrfbRFBu.")
    + ["ｅ", "а", "α", "é", "中", "\u200b", "\u202e", "\ufe0f", "\x1b", "\x1b[31m", '"""']
)


@fuzz(300)
@given(st.lists(_ALPHABET, max_size=60).map("".join), st.integers(0, 40))
def test_same_issues_on_any_text(text: str, pad: int) -> None:
    text = text + "\nx = 'a'\n" * pad
    with pytest.MonkeyPatch.context() as m:
        fast = scan_text(text, python=True)
        m.setattr(scan, "_python_identifiers", _to_the_end)
        assert fast == scan_text(text, python=True)


def test_the_ascii_class_is_the_full_one_on_ascii() -> None:
    for c in map(chr, range(128)):
        assert bool(invisible._ASCII_CANDIDATES.fullmatch(c)) == bool(_CANDIDATES.fullmatch(c))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1\r\ny = 2\rz = 3\n", [("unicode-invisible", 2, 6)]),  # a lone CR
        ("s = 'a\x00b'\n", [("unicode-invisible", 1, 7)]),
        ("s = '\x1b[31mred'\n", [("unicode-terminal-escape", 1, 6)]),
        ("s = '\x1b[8mhidden'\n", [("unicode-invisible", 1, 6)]),  # conceal
        ("x = 1\x7f\n", [("unicode-invisible", 1, 6)]),
    ],
)
def test_ascii_controls_are_still_found(
    text: str, expected: list[tuple[str, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "x = 1\n" * 3000 + text  # deep in a large ASCII file
    expected = [(r, line + 3000, col) for r, line, col in expected]
    assert where(scan_text(text, python=True)) == expected
    monkeypatch.setattr(invisible, "_ASCII_CANDIDATES", _CANDIDATES)
    assert where(scan_text(text, python=True)) == expected


@fuzz(300)
@given(st.text(st.characters(max_codepoint=127), max_size=80))
def test_same_issues_on_any_ascii_text(text: str) -> None:
    for python in (True, False):
        fast = scan_text(text, python=python)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(invisible, "_ASCII_CANDIDATES", _CANDIDATES)
            assert fast == scan_text(text, python=python)
