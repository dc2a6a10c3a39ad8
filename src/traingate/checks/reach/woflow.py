"""Where a function's ``weights_only`` parameter goes besides a keyword (issue #16).

timm 1.0.31's ``_torch_load(path, map_location, weights_only=True, mmap=False)``
builds ``load_kwargs = dict(map_location=..., weights_only=weights_only)``,
adds ``load_kwargs['mmap'] = True``, calls ``torch.load(path,
**load_kwargs)``, and only in ``except TypeError:`` under ``if not
weights_only:`` calls ``torch.load(path, map_location=...)``. Read as
written, the first is "any keyword may be in there" and the second an
unconditional load without ``weights_only``; both are the parameter at run
time. Two facts (version 16) let reach see that, and nothing looser:

- ``dict_entries``: ``**kw`` where ``kw`` is a local bound once, by a plain
  assignment, to a dict display or ``dict(k=v, ...)`` of literal keys, and
  every other use of the name provably leaves its ``weights_only`` entry
  alone: ``**kw``, reads (``kw[k]``, ``kw.get``/``keys``/``values``/``items``/
  ``copy``, comparisons), writes of other literal keys (``kw['mmap'] = v``,
  ``del``, ``update`` of a literal dict or keywords, ``setdefault``, ``pop``).
  Anything else (aliasing, passing ``kw`` to a call, ``|=``, a non-literal or
  ``weights_only`` key, a nested def rebinding it, ``locals()``) leaves
  ``**kw`` unknown, as before.
- ``not_guards``: the calls in the body of ``if not P:``, ``P`` one of the
  given parameters (the caller checks: True default, never rebound). Such a
  call runs only when the caller passed ``P`` something falsy, which reach
  already flags at that caller, so it is conditional on ``P``. A lambda or
  def made under the guard is not: it may be stored and called later.

Not followed (as nowhere in reach): another function reaching into this
one's frame (``sys._getframe(1).f_locals['kw']``); in the def itself any
frame or ``locals()`` access leaves ``**kw`` unknown.
"""

from __future__ import annotations

import ast
from typing import Any

WO = "weights_only"
# Methods of a dict that read it, or return a new one (``copy``).
_READS = frozenset({"get", "keys", "values", "items", "copy"})
# Methods that write only the literal key they are given.
_KEYED = frozenset({"setdefault", "pop"})
# Names through which a function's locals can be reached without their name.
_FRAME = frozenset({"locals", "vars", "eval", "exec", "_getframe", "currentframe"})
_FRAME_ATTRS = frozenset({"f_locals", "_getframe", "currentframe"})
_STMTS = ("body", "orelse", "finalbody", "handlers")


def dict_entries(
    body: list[ast.stmt], name: str, value: ast.expr
) -> dict[str, list[ast.expr | None]] | None:
    """key -> the values ``**name`` may pass for it (None: not known), when
    ``name`` is bound once to ``value`` (a dict display or ``dict(...)`` call
    with literal keys) in ``body`` and never used in a way that could change
    its ``weights_only`` entry; None otherwise. ``name`` empty: ``value`` is
    written in place, as ``**value``."""
    out: dict[str, list[ast.expr | None]] = {}
    if type(value) is ast.Dict:
        for k, v in zip(value.keys, value.values, strict=True):
            if not (type(k) is ast.Constant and type(k.value) is str):
                return None  # `**other` inside, or a key chosen at run time
            out.setdefault(k.value, []).append(v)
    elif type(value) is ast.Call and not value.args:
        for kw in value.keywords:
            if kw.arg is None:
                return None
            out.setdefault(kw.arg, []).append(kw.value)
    else:
        return None
    if not name:
        return out  # written in place (``**{...}``): nothing else holds it
    allowed: set[int] = set()
    seen: list[ast.AST] = []
    binding = 0
    for n in (x for stmt in body for x in ast.walk(stmt)):
        t = type(n)
        if t is ast.Name:
            if n.id == name:  # type: ignore[attr-defined]
                seen.append(n)
            elif n.id in _FRAME:  # type: ignore[attr-defined]
                return None
        elif t is ast.Attribute and n.attr in _FRAME_ATTRS:  # type: ignore[attr-defined]
            return None
        elif t is ast.Global or t is ast.Nonlocal:
            if name in n.names:  # type: ignore[attr-defined]
                return None
        elif t is ast.Assign or t is ast.AnnAssign:
            if n.value is value:  # type: ignore[attr-defined]
                targets = n.targets if t is ast.Assign else [n.target]  # type: ignore[attr-defined]
                if len(targets) != 1 or not _is(targets[0], name):
                    return None  # `kw = other = {...}`: an alias from the start
                allowed.add(id(targets[0]))
                binding += 1
        elif t is ast.keyword:
            if n.arg is None and _is(n.value, name):  # type: ignore[attr-defined]
                allowed.add(id(n.value))  # type: ignore[attr-defined]  # `**kw` passes a copy
        elif t is ast.Subscript:
            if _is(n.value, name):  # type: ignore[attr-defined]
                key = _literal(n.slice)  # type: ignore[attr-defined]
                if type(n.ctx) is not ast.Load:  # type: ignore[attr-defined]
                    if key is None or key == WO:
                        return None
                    out.setdefault(key, []).append(None)
                allowed.add(id(n.value))  # type: ignore[attr-defined]
        elif t is ast.Call:
            f = n.func  # type: ignore[attr-defined]
            if type(f) is ast.Attribute and _is(f.value, name):
                keys = _method_keys(n, f.attr)  # type: ignore[arg-type]
                if keys is None:
                    return None
                for key in keys:
                    out.setdefault(key, []).append(None)
                allowed.add(id(f.value))
        elif t is ast.Compare:
            for side in [n.left, *n.comparators]:  # type: ignore[attr-defined]
                if _is(side, name):
                    allowed.add(id(side))
        elif t in _BINDERS and _binds_name(n, name):
            return None  # `except E as kw`, `import x as kw`, `def kw`, `case {**kw}`
    if binding != 1 or any(id(n) not in allowed for n in seen):
        return None  # rebound, aliased, passed on, `|=`: may now hold anything
    return out


_BINDERS = frozenset(
    {
        ast.ExceptHandler,
        ast.alias,
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.ClassDef,
        ast.MatchAs,
        ast.MatchStar,
        ast.MatchMapping,
        ast.arg,
    }
)


def _binds_name(n: Any, name: str) -> bool:
    t = type(n)
    if t is ast.alias:
        return bool((n.asname or n.name.split(".")[0]) == name)
    if t is ast.MatchMapping:
        return bool(n.rest == name)
    if t is ast.arg:
        return bool(n.arg == name)
    return bool(getattr(n, "name", None) == name)


def _is(node: ast.expr | None, name: str) -> bool:
    return type(node) is ast.Name and node.id == name


def _literal(node: ast.expr | None) -> str | None:
    if type(node) is ast.Constant and type(node.value) is str:
        return str(node.value)
    return None


def _method_keys(call: ast.Call, method: str) -> list[str] | None:
    """The keys a dict method call writes (none for a read); None when it may
    write ``weights_only`` or a key not known here."""
    if method in _READS:
        return []
    if method in _KEYED:
        key = _literal(call.args[0]) if call.args else None
        return None if key is None or key == WO or call.keywords else [key]
    if method != "update":
        return None  # clear, popitem, __setitem__, __ior__, ...: anything
    keys: list[str] = []
    for a in call.args:
        if type(a) is not ast.Dict:
            return None
        for k in a.keys:
            key = _literal(k)
            if key is None:
                return None
            keys.append(key)
    for kw in call.keywords:
        if kw.arg is None:
            return None
        keys.append(kw.arg)
    return None if WO in keys else keys


def not_guards(body: list[ast.stmt], params: set[str]) -> dict[int, str]:
    """id of each call in the body of an ``if not P:`` (``P`` in ``params``),
    its own statements and blocks (not a nested def's or class's) -> ``P``.
    ``elif not P:`` counts (it is such an ``if``); its ``else`` does not."""
    out: dict[int, str] = {}
    todo: list[ast.stmt] = list(body)
    while todo:
        s = todo.pop()
        t = type(s)
        if t in _DEFS:
            continue  # its body runs when it is called, not here
        if t is ast.If:
            test = s.test  # type: ignore[attr-defined]
            if (
                type(test) is ast.UnaryOp
                and type(test.op) is ast.Not
                and type(test.operand) is ast.Name
                and test.operand.id in params
            ):
                p = test.operand.id
                stack: list[ast.AST] = list(s.body)  # type: ignore[attr-defined]
                while stack:
                    n = stack.pop()
                    if type(n) in _NESTED:
                        continue  # a lambda or def made here may be called later, unguarded
                    if type(n) is ast.Call:
                        out.setdefault(id(n), p)
                    stack.extend(ast.iter_child_nodes(n))
        for field in _STMTS:
            for x in getattr(s, field, ()) or ():
                if type(x) is ast.ExceptHandler:
                    todo += x.body
                else:
                    todo.append(x)
        if t is ast.Match:
            for case in s.cases:  # type: ignore[attr-defined]
                todo += case.body
    return out


_DEFS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_NESTED = _DEFS | {ast.Lambda}
