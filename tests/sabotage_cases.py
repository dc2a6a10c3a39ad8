"""Caught and quiet source cases for the sabotage check, as pytest tests.

``test_caught, test_quiet = case_tests(CAUGHT, QUIET)`` in a test module:
each caught case gives exactly its (rule, line) hits, on the whole file and
on the cut with every line added; each quiet case gives none (issue #16).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from traingate.checks.sabotage.analysis import analyze


def _hits(source: str, name: str, added: set[int] | None = None) -> list[tuple[str, int]]:
    return sorted((h.rule, h.line) for h in analyze(source, f"train/{name}.py", added=added))


def case_tests(
    caught: dict[str, tuple[str, list[tuple[str, int]]]], quiet: dict[str, str]
) -> tuple[Callable[[str], None], Callable[[str], None]]:
    @pytest.mark.parametrize("name", sorted(caught))
    def test_caught(name: str) -> None:
        source, want = caught[name]
        got = _hits(source, name)
        assert got == sorted(want)
        # the cut (every line added) agrees with the whole-file analysis
        assert _hits(source, name, set(range(1, source.count("\n") + 2))) == got

    @pytest.mark.parametrize("name", sorted(quiet))
    def test_quiet(name: str) -> None:
        assert _hits(quiet[name], name) == []

    return test_caught, test_quiet
