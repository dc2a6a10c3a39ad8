"""Dates and step thresholds: a value compared with a literal that names a moment
(issue #16, class 3), split from ``triggers`` to keep each module small.

- a step counter against an integer of 100 or more (``step > 5000``), spelled or
  held by a module constant, also one computed from literals (``_LATE = 3 *
  10**4``, session 17: folding, so the arithmetic is not a way around the
  literal);
- a clock value, or (#16, session 17) a file's modification, change or access time
  (``os.path.getmtime(f)``, ``p.stat().st_mtime``), against epoch seconds (a
  number of 10^8 or more) or a spelled date (``datetime(2026, 9, 1)``). A file
  time alone is no trigger: ``if os.path.getmtime(src) > os.path.getmtime(cache)``
  is cache invalidation; compared with a date, it is a date bomb that needs no
  clock (``tests/fixtures/evasion/triggered-sabotage/dataset_mtime_bomb.py``).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping

# A training-step counter (step > 5000).
STEP_NAME = re.compile(
    r"^(?:global_|completed_|num_|total_|optimizer_|train_)?(?:step|steps|step_count|iteration|"
    r"iterations|iter|it|epoch|num_updates|updates|batch_idx|batch_id)$"
)
# A file's times: inert (``FILETIME``, judged by no verdict) until compared with a
# date, when they are the date (``TIME``).
FILETIME = "filetime"
FILE_TIME_CALLS = frozenset({"os.path.getmtime", "os.path.getctime", "os.path.getatime"})
FILE_TIME_ATTRS = frozenset(
    {"st_mtime", "st_ctime", "st_atime", "st_mtime_ns", "st_ctime_ns", "st_atime_ns"}
    | {"st_birthtime"}
)
_DATE_CTORS = frozenset({"datetime.datetime", "datetime.date"})
# Folding stops at values no threshold needs: `10**10**10` is a constant an
# attacker can write to make the check compute forever (fail closed elsewhere,
# but a bound here keeps it a number).
_MAX_FOLD = 1 << 64


def epoch(node: ast.AST) -> bool:
    """A number of 10^8 or more: epoch seconds (1973 onwards)."""
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
        and node.value >= 1e8
    )


def date_ctor(call: ast.Call, q: str | None) -> bool:
    """A spelled date: ``datetime(2026, 9, 1)``, ``date(2027, 1, 1)`` (``q``: the
    call's qualified name)."""
    year = int_literal(call.args[0]) if call.args else None
    return year is not None and year >= 1970 and q in _DATE_CTORS


def step_compare(node: ast.Compare, consts: Mapping[str, int]) -> tuple[str, int] | None:
    """``step > 5000``: a step counter against a literal of at least 100, or a
    module constant bound to one (``step > WARM_STEPS``); how to name it, and its line."""
    sides = [node.left, *node.comparators]
    counter = any(STEP_NAME.match(last_name(s) or "") for s in sides)
    big = any((int_literal(s) or consts.get(getattr(s, "id", ""), 0)) >= 100 for s in sides)
    if counter and big:
        return ast.unparse(node), node.lineno
    return None


def last_name(node: ast.AST) -> str | None:
    """The name a node ends in: ``x`` of ``x`` and of ``a.b.x`` (``triggers`` re-exports it)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def int_literal(node: ast.AST | None) -> int | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


def int_constants(tree: ast.Module) -> dict[str, int]:
    """Module-level names assigned exactly once, to an integer literal or to integer
    arithmetic of literals and such names (``_LATE = 3 * 10**4``, ``_END = _LATE +
    WARM``: session 17), in any order."""
    seen: dict[str, ast.expr | None] = {}
    for st in tree.body:
        targets = st.targets if isinstance(st, ast.Assign) else []
        if isinstance(st, ast.AnnAssign):
            targets = [st.target]
        for t in targets:
            if isinstance(t, ast.Name):
                value = st.value if isinstance(st, (ast.Assign, ast.AnnAssign)) else None
                seen[t.id] = value if t.id not in seen else None
    exprs = {k: v for k, v in seen.items() if v is not None}
    out: dict[str, int] = {}
    for name in exprs:
        _constant(name, exprs, out, set())
    return out


# How deep folding goes, in operators and in constants through constants: a
# generated 1,000-term sum at module level is no step threshold, and recursion
# that deep would make the file unjudged (a RecursionError).
_DEPTH = 32


def _constant(
    name: str, exprs: Mapping[str, ast.expr], out: dict[str, int], busy: set[str]
) -> int | None:
    """The value of a module constant, folding the ones its value names (no
    closure: a recursive one is a reference cycle, ``test_sabotage_gc``)."""
    if name in out:
        return out[name]
    expr = exprs.get(name)
    if expr is None or name in busy or len(busy) >= _DEPTH:  # unbound, bound twice, a cycle
        return None
    busy.add(name)
    got = fold(expr, functools.partial(_constant, exprs=exprs, out=out, busy=busy))
    busy.discard(name)
    if got is not None:
        out[name] = got
    return got


def fold(node: ast.AST, names: Callable[[str], int | None], depth: int = 0) -> int | None:
    """The integer an expression of integer literals and constants computes, if it
    is one and not huge: ``+ - * // % **`` and ``<<``, unary minus, ``int(3e4)``."""
    if depth > _DEPTH:
        return None
    if isinstance(node, ast.Constant):
        return int_literal(node)
    if isinstance(node, ast.Name):
        return names(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        got = fold(node.operand, names, depth + 1)
        return None if got is None else (-got if isinstance(node.op, ast.USub) else got)
    if (  # int(3e4), int(1e5): a float literal made an integer
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "int"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, float)
    ):
        value = node.args[0].value
        return int(value) if abs(value) < _MAX_FOLD else None
    if not isinstance(node, ast.BinOp):
        return None
    left = fold(node.left, names, depth + 1)
    right = fold(node.right, names, depth + 1) if left is not None else None
    if left is None or right is None:
        return None
    return _arith(node.op, left, right)


def _arith(op: ast.operator, a: int, b: int) -> int | None:
    got: int | None = None
    if isinstance(op, ast.Add):
        got = a + b
    elif isinstance(op, ast.Sub):
        got = a - b
    elif isinstance(op, ast.Mult):
        got = a * b
    elif isinstance(op, ast.FloorDiv) and b:
        got = a // b
    elif isinstance(op, ast.Mod) and b:
        got = a % b
    elif isinstance(op, ast.Pow) and 0 <= b <= 64 and abs(a) < _MAX_FOLD:
        got = a**b
    elif isinstance(op, ast.LShift) and 0 <= b <= 64:
        got = a << b
    return got if got is not None and abs(got) < _MAX_FOLD else None
