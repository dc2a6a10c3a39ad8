"""A shell escape's command as IPython builds it from the notebook's own constants.

Issue #16: published notebooks set a string once and use it in an escape
(flax: ``repo, branch = 'https://github.com/google/flax', 'main'`` then
``!git clone -b $branch $repo``; ignite: ``setup = f"cd {path} && ..."``
then ``!{setup} && python ...``). A reviewer reads the constant and sees a
plain command, so the gate substitutes it as IPython would and judges the
result as shell text with the bash rules (a constant holding ``; curl x | sh``
is then read as the command it makes). Only when nothing else can give the
name another value at run time:

- the name is bound once in the whole notebook, by an assignment at the top
  level of a plain code cell (no cell magic: ``%%writefile`` writes it,
  ``%%python`` runs it elsewhere, ``%%timeit`` binds it in a function), to a
  str literal or an f-string / ``+`` / alias of such constants bound before it;
- no other binding of it anywhere (assignment, augmented assignment, ``del``,
  ``global``, loop/``with``/``except`` target, walrus, import, def); a
  function's parameter of that name only when the escape is outside any
  function or class (IPython's var_expand reads the escape's frame locals
  first);
- the escape comes after that assignment, and the notebook cannot bind
  names unseen (ipynames: star import, ``globals()``, ``%run``, ``%store``...).
Anything else stays a subprocess call (checks/semgrep/ipython.py).
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable, Collection

from traingate.checks.semgrep.ipynames import bound_here, mentioned, parse_python

# IPython's DollarFormatter pattern (IPython/utils/text.py), verbatim: `$name`
# or `$$name`, not followed by an odd number of single quotes.
_IPY_DOLLAR = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")
# IPython's pattern backtracks per `$` to the end of the line: a longer
# command stays a subprocess call (fail closed, and no quadratic time).
_MAX_COMMAND = 4096
_MAX_DEPTH = 16

Known = Callable[[int], dict[str, str]]


def constants(python: list[str], source: list[str], foreign: Collection[int]) -> Known:
    """For an escape on line ``i`` (0-based, of ``python``), the names whose
    value there is a string the notebook itself wrote. ``python`` is the
    notebook's Python with escapes whose fields are bare names read as shell
    text (so they bind nothing); ``foreign`` the lines of cells a cell magic
    runs elsewhere or not at all."""
    tree = parse_python(python)
    if tree is None or mentioned(python, source) is None:
        return lambda _i: {}
    count: dict[str, int] = {}
    params: set[str] = set()
    scopes: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            count[node.id] = count.get(node.id, 0) + 1
        elif isinstance(node, ast.alias):
            name = (node.asname or node.name).split(".", 1)[0]
            count[name] = count.get(name, 0) + 1
        elif isinstance(node, ast.arg):
            params.add(node.arg)
        else:
            for name in bound_here(node):
                count[name] = count.get(name, 0) + 1
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            scopes.append((node.lineno, node.end_lineno or node.lineno))
    # name -> (its value's node, where the assignment starts, its last line)
    assigned: dict[str, tuple[ast.expr, tuple[int, int], int]] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign) or stmt.lineno - 1 in foreign:
            continue
        where = (stmt.lineno, stmt.col_offset)
        for target in stmt.targets:
            for name, value in _pairs(target, stmt.value):
                if count.get(name) == 1:
                    assigned[name] = (value, where, stmt.end_lineno or stmt.lineno)

    def resolve(node: ast.expr, before: tuple[int, int], depth: int) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            return str(node.value) if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            held = assigned.get(node.id)
            if held is None or held[1] >= before:
                return None
            return resolve(held[0], held[1], depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = resolve(node.left, before, depth + 1)
            right = resolve(node.right, before, depth + 1)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.JoinedStr):
            out: list[str] = []
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    if part.conversion not in (-1, ord("s")) or part.format_spec is not None:
                        return None
                    part = part.value
                got = resolve(part, before, depth + 1)
                if got is None:
                    return None
                out.append(got)
            return "".join(out)
        return None

    values: dict[str, tuple[str, int]] = {}
    for name, (node, where, last) in assigned.items():
        got = resolve(node, where, 0)
        # One shell line per cell line: a value that would start another line
        # (or hold a control character) stays a run-time value.
        if got is not None and all(c.isprintable() or c == "\t" for c in got):
            values[name] = (got, last)

    def at(i: int) -> dict[str, str]:
        in_function = any(first < i + 1 <= last for first, last in scopes)
        return {
            name: got
            for name, (got, last) in values.items()
            if last < i + 1 and not (in_function and name in params)
        }

    return at


def _pairs(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr]]:
    """``name = v`` and ``a, b = x, y`` (a tuple or list of names to one of
    the same length) as (name, value) pairs."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if (
        isinstance(target, (ast.Tuple, ast.List))
        and isinstance(value, (ast.Tuple, ast.List))
        and len(target.elts) == len(value.elts)
        and all(isinstance(t, ast.Name) for t in target.elts)
        and not any(isinstance(v, ast.Starred) for v in value.elts)
    ):
        return [
            (t.id, v)
            for t, v in zip(target.elts, value.elts, strict=True)
            if isinstance(t, ast.Name)
        ]
    return []


def expanded(cmd: str, known: dict[str, str]) -> str | None:
    """``cmd`` as IPython's var_expand makes it (DollarFormatter: ``$name``,
    ``$$`` a literal ``$``, ``{field}``, ``{{``) when every field is a bare
    name in ``known``; None otherwise (the caller keeps its own reading)."""
    if not known or len(cmd) > _MAX_COMMAND:
        return None
    try:
        parts = list(string.Formatter().parse(cmd))
    except ValueError:
        return None
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        txt, cont = "", 0
        for m in _IPY_DOLLAR.finditer(literal):
            new_txt, new_field = m.group(1, 2)
            if new_field.startswith("$"):
                txt += new_txt + new_field
            else:
                if new_field not in known:
                    return None
                out += [txt + new_txt, known[new_field]]
                txt = ""
            cont = m.end()
        out.append(txt + literal[cont:])
        if field is None:
            continue
        # eval() strips leading spaces and tabs; a spec or conversion is code.
        name = field.strip(" \t")
        if spec or conversion is not None or name not in known:
            return None
        out.append(known[name])
    return "".join(out)
