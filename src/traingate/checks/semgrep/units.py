"""The screen atoms that read a file by its units (screen.py, issue #17):
``unit:``, ``file:`` and ``helper-of:``. A unit's facts are its own part,
with ``shared`` what every unit shares (facts.py); a unit built by
Facts.units() holds a weak reference to its file's facts in ``_memo["file"]``."""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable

from traingate.checks.semgrep.facts import Facts

Test = Callable[[Facts], bool]


def unit(sub: Test) -> Test:
    """``sub`` holds on one unit of the file (facts.py): a function or method
    with what every unit shares. Every atom only admits more on more facts,
    so the whole file is a pre-test: a unit's facts are a part of its facts."""

    def test(f: Facts) -> bool:
        if not sub(f):
            return False
        units = f.units()
        return not units or any(sub(u) for u in units)

    return test


def file_of(f: Facts) -> Facts | None:
    """The facts of the file ``f`` is a unit of (``f`` itself for a file's
    facts); None for a unit built without its file, or whose file is gone:
    such a unit is admitted, never dropped (issue #17)."""
    ref = f._memo.get("file")
    if ref is None:
        return None if f.run is not None else f
    file: Facts | None = ref()
    return file


def by_unit(key: str, hits: Callable[[Facts], list[int]]) -> Test:
    """A node atom's test: it holds where ``hits`` (sorted line-start offsets,
    computed once a file and kept under ``key``; a first offset below 0: every
    unit) has one in a unit's run of lines or in the code every unit shares
    (facts._Gaps); on a file, or a file with no function, where it has any. A
    unit without its file admits (loadcalls, labelnodes, writesites, guardwords)."""

    def test(f: Facts) -> bool:
        file = file_of(f)
        if file is None:
            return True  # a unit without its file: admit, never drop
        if key not in file._memo:
            file._memo[key] = hits(file)
        at: list[int] = file._memo[key]
        if not at:
            return False
        if at[0] < 0 or f.run is None or f.gaps is None:
            return True  # every unit; the file, or a file with no function
        if within(at, *f.run):
            return True
        if key + " gap" not in file._memo:  # module or class code: every unit's
            file._memo[key + " gap"] = any(within(at, a, b) for a, b in f.gaps.gaps)
        shared: bool = file._memo[key + " gap"]
        return shared

    return test


def within(at: list[int], a: int, b: int) -> bool:
    """Whether one of the sorted offsets ``at`` lies in ``[a, b)``."""
    i = bisect.bisect_left(at, a)
    return i < len(at) and at[i] < b


def whole_file(sub: Test) -> Test:
    """``sub`` holds on the whole file, also when asked of a unit (issue #17):
    for a rule whose match in one unit needs a part another unit holds
    (tamper-framework-monkeypatch's setattr helper). On a file it is ``sub``."""

    def test(f: Facts) -> bool:
        # (was inverted until session 22: True on every file, so a unit
        # screen with a file: disjunct read every file's units, #17)
        file = file_of(f)
        return file is None or sub(file)

    return test


def helper_of(callees: frozenset[str]) -> Test:
    """``helper-of``: the code's own calls (a unit's without its shared part:
    shared code is never stubbed, unitcut.py) call by its bare name a function
    of the file that calls one of ``callees`` with one of its parameters first.
    A bare name, as ``$F(...)`` needs (semgrep 1.182 matched no
    ``self.helper(...)`` to a ``def helper``): a name alone admitted every unit
    naming ``__init__`` (``super().__init__()``) in the 42 corpus files whose
    ``__init__`` does ``setattr(self, k, v)`` (issue #17)."""
    key = f"helper-of {sorted(callees)}"

    def test(f: Facts) -> bool:
        file = file_of(f)
        if file is None:
            return True  # a unit without its file: admit, never drop
        if key not in file._memo:
            file._memo[key] = _helpers(file, callees)
        helpers: frozenset[str] = file._memo[key]
        if helpers.isdisjoint(f.names):
            return False
        # f.looks holds the code's calls (facts._read)
        return any(
            type(n) is ast.Call and type(n.func) is ast.Name and n.func.id in helpers
            for n in f.looks
        )

    return test


def _helpers(file: Facts, callees: frozenset[str]) -> frozenset[str]:
    """The names of the file's functions (any depth) that call one of
    ``callees`` (a name or an attribute) with one of their parameters first.
    The calls are found in the file's flat node list, then each def whose
    lines hold one: one pass over the nodes, not a walk per def (issue #17)."""
    if callees.isdisjoint(file.names):
        return frozenset()
    calls: list[tuple[int, str]] = []
    for n in file.nodes:
        if type(n) is ast.Call and n.args and type(n.args[0]) is ast.Name:
            func = n.func
            called = func.id if type(func) is ast.Name else getattr(func, "attr", None)
            if called in callees:
                calls.append((n.lineno, n.args[0].id))
    found: set[str] = set()
    for fn in file.defs:
        if not calls or not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        end = fn.end_lineno or fn.lineno
        inside = {arg for line, arg in calls if fn.lineno <= line <= end}
        if inside:
            a = fn.args
            params = (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
            if any(p is not None and p.arg in inside for p in params):
                found.add(fn.name)
    return frozenset(found)
