"""The screens' cost order and the unit cut's plan helpers (issue #17): each
is a cheaper way to the same answer, checked here against the plain one."""

from __future__ import annotations

import ast
import textwrap

import pytest

from traingate.checks.semgrep import prefilter, screen, unitcut
from traingate.checks.semgrep.facts import facts


@pytest.mark.parametrize(
    ("pattern", "led"),
    [
        ("%", True),
        (r"(?a)==(?:[\s\\(])*+\d", True),
        (r"\)\s*\.\s*(uniform|normal)_\s*\(", True),
        (r"(?i)=label", True),  # "=" has no case
        (r"(?i)label", False),  # sre cannot look for "l" alone under IGNORECASE
        (r"(?ai)(?:(?<![a-z0-9])labels?|\by)\s*==", False),
        (r"\bexec\b", False),
        (r"(", False),  # not a regex: no claim
        ("", False),
    ],
)
def test_literal_led(pattern: str, led: bool) -> None:
    assert prefilter.literal_led(pattern) is led


def test_a_literal_led_text_atom_is_tried_first() -> None:
    slow = {"text": r"(?ai)(?:(?<![a-z0-9])labels?|\by)\s*=="}
    fast = {"text": r"(?a)==\s*\d"}
    assert screen._cheap_first([slow, fast]) == [fast, slow]
    assert screen._cheap_first([{"text": "%"}, slow]) == [{"text": "%"}, slow]


_SOURCE = textwrap.dedent(
    '''
    import os

    def plain(x):
        """global in a docstring only"""
        return x

    def nested():
        def inner():
            global COUNT
            COUNT = 1
        return inner

    def in_class():
        class C:
            def m(self):
                try:
                    pass
                except ValueError:
                    global SEEN
        return C

    def in_match(v):
        match v:
            case 1:
                if v:
                    global HIT
        from random import (
            random as draw,
            seed,
        )
        import numpy.linalg as la, json
        return draw

    def lambda_only():
        return lambda: "global"
    '''
)


def test_has_global_matches_a_walk_of_every_node() -> None:
    tree = ast.parse(_SOURCE)
    funcs = unitcut.outermost(tree)
    found = [unitcut._has_global(fn) for fn in funcs]
    walked = [any(isinstance(n, ast.Global) for n in ast.walk(fn)) for fn in funcs]
    assert found == walked == [False, True, True, True, False]
    assert unitcut._declaring_global(_SOURCE, funcs) == {1, 2, 3}


def test_imported_reads_multi_line_imports_by_their_function() -> None:
    f = facts(_SOURCE)
    assert f is not None and f.tree is not None
    funcs = unitcut.outermost(f.tree)
    assert unitcut._imported(f, funcs) == {3: frozenset({"draw", "seed", "la", "json"})}
