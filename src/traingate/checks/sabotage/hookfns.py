"""Which functions of a module return a gradient: hooks and autograd backwards.

Split from module.py (size). ``hook_functions`` names the functions passed to
``register_hook`` and friends (or decorated with one) and the ``backward`` of
the module's ``torch.autograd.Function`` classes, with the lines that make them
one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.cut import as_read, line_tokens, span
from traingate.checks.sabotage.triggers import last_name

_REGISTRAR = re.compile("|".join(sorted(pl.HOOK_REGISTRARS)))


def hook_functions(tree: ast.Module, source: str) -> dict[str, tuple[int, ...]]:
    """Functions passed to register_hook and friends (or decorated with one): their
    return is a gradient. Name -> the lines that register it: a hit in the hook
    rests on them too, so an added registration of an unchanged function is kept."""
    roots: list[ast.AST] = [tree]
    # Only the statements spelling a registrar are walked. A lone CR ends a line
    # for Python, not for split("\n"): the whole tree then.
    if "\r" not in source:
        lines = _registrar_lines(source)
        roots = [st for st in tree.body if any(_within(st, n) for n in lines)]
    out: dict[str, set[int]] = {}
    for node in (n for root in roots for n in ast.walk(root)):
        if isinstance(node, ast.Call) and last_name(node.func) in pl.HOOK_REGISTRARS:
            for arg in node.args:
                name = last_name(arg.func) if isinstance(arg, ast.Call) else last_name(arg)
                if name:
                    out.setdefault(name, set()).add(node.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                if last_name(d.func if isinstance(d, ast.Call) else d) in pl.HOOK_REGISTRARS:
                    out.setdefault(node.name, set()).add(d.lineno)
    for name, line in _autograd_backwards(tree, _may_nest_function(source)):
        out.setdefault(name, set()).add(line)
    return {k: tuple(sorted(v)) for k, v in out.items()}


# torch.autograd.Function (and InplaceFunction): `backward` (`vjp` is its alias)
# returns the gradients of the inputs, as a gradient hook returns one (session 26,
# autograd_fn_time_parity.py: a trigger in a straight-through estimator's backward).
_AUTOGRAD_BASES = frozenset({"Function", "InplaceFunction"})
_AUTOGRAD_GRADS = frozenset({"backward", "vjp"})


def _autograd_backwards(tree: ast.Module, nested: bool) -> Iterable[tuple[str, int]]:
    """The gradient methods of the module's autograd Functions, with the line of
    their class header (what makes them one). Top-level classes in one pass over the
    module's statements; with ``nested``, also classes defined in a function or a
    block (session 27, autograd_fn_factory.py: a factory returning ``_Q.apply`` per
    bit width is as much a gradient hook)."""
    classes = (
        (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
        if nested
        else (st for st in tree.body if isinstance(st, ast.ClassDef))
    )
    for cls in classes:
        if _AUTOGRAD_BASES.isdisjoint(last_name(b) for b in cls.bases):
            continue
        for child in cls.body:
            if isinstance(child, ast.FunctionDef) and child.name in _AUTOGRAD_GRADS:
                yield child.name, cls.lineno


def _may_nest_function(source: str) -> bool:
    """Whether a class below the top level may have an autograd base: the whole tree
    is walked only then (issue #17: most files name no ``Function``). Identifiers
    are NFKC-normalised (a fullwidth ``Ｆunction`` is ``Function`` to Python), so
    text that is not ASCII is always walked."""
    return not source.isascii() or "Function" in source


def _registrar_lines(source: str) -> set[int]:
    """The lines spelling a registrar. ASCII text: one search over the whole file (a
    registrar's name holds no newline, so a match is the line's own match)."""
    if not source.isascii():
        # A line's registrar is one of its tokens as read (``_registrar``), so it is
        # in the file as read: most files hold none, and each line was tested (#17).
        if "register_" not in as_read(source):
            return set()
        return {n for n, text in enumerate(source.split("\n"), 1) if _registrar(text)}
    if "register_" not in source:  # every registrar's name holds it (issue #17: one
        return set()  # substring search, not the alternation's, on every scanned file)
    out: set[int] = set()
    line, pos = 1, 0
    for m in _REGISTRAR.finditer(source):
        line += source.count("\n", pos, m.start())
        pos = m.start()
        out.add(line)
    return out


def _registrar(line: str) -> bool:
    if line.isascii():
        return _REGISTRAR.search(line) is not None
    # Identifiers are NFKC-normalised: read the line as Python does.
    return not pl.HOOK_REGISTRARS.isdisjoint(line_tokens(line))


def _within(st: ast.stmt, line: int) -> bool:
    first, last = span(st)
    return first <= line <= last
