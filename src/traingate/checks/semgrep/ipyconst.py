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
- the escape comes after that assignment, and nothing that can bind names
  unseen (ipynames: star import, ``globals()``, ``%run``, ``%store``...)
  runs before it: none in the notebook, or only in later top-level
  statements and the escape in no function (session 23).

Session 22 (flax's examples: ``if mount_gdrive == 'yes': example_root_path =
f'/content/gdrive/My Drive/flax/{example_directory}' else: example_root_path
= f'/content/{example_directory}'``, then ``!cp -r ... "$example_root_path"``):
a name bound in every branch of one if/else (or if/elif/else) chain and
nowhere else, each branch binding it once at its own top level, the chain at
a cell's top level or only inside other ``if`` branches, holds one of those
constants after the chain, in the branch that holds the chain. The escape is
then judged once per value: every command it can make, side by side on its
line (`` ; ``), each one a whole command (balanced quotes and parentheses, no
``#``, backquote, heredoc, trailing backslash or operator) so that none hides
the next.
Session 23 (flax's gemma notebook): a name a cell's top-level ``with
tempfile.TemporaryDirectory() as tmp:`` binds holds, in that body, a
directory under the runner's temp root (``_temp_dirs`` says when the
notebook cannot move that root).
Anything else stays a subprocess call (checks/semgrep/ipython.py).
"""

from __future__ import annotations

import ast
import itertools
import os.path
import random
import re
import shlex
import string
import tempfile
from collections.abc import Callable, Collection, Iterator

from traingate.checks.semgrep.ipynames import bound_here, parse_python, unseen_from
from traingate.strfold import fold

# IPython's DollarFormatter pattern (IPython/utils/text.py), verbatim: `$name`
# or `$$name`, not followed by an odd number of single quotes.
_IPY_DOLLAR = re.compile(r"(.*?)\$(\$?[\w\.]+)(?=([^']*'[^']*')*[^']*$)")
# IPython's pattern backtracks per `$` to the end of the line: a longer
# command stays a subprocess call (fail closed, and no quadratic time).
_MAX_COMMAND = 4096
# Commands one escape can make from a name's alternative values: more stay a
# run-time value (issue #16).
_MAX_VARIANTS = 8
# What would make one variant swallow the next on a shared line: a command
# left open by an operator or keyword (comments, heredocs, backquotes, open
# quotes and groups are checked in _whole).
_OPEN_END = re.compile(r"(?:[|&;(]|\b(?:then|do|else|elif|in))\s*$|^\s*[|&;)]")

# The values a name can hold at an escape's line (one, or one per branch).
Consts = dict[str, tuple[str, ...]]
Known = Callable[[int], Consts]


def constants(python: list[str], source: list[str], foreign: Collection[int]) -> Known:
    """For an escape on line ``i`` (0-based, of ``python``), the names whose
    value there is a string the notebook itself wrote. ``python`` is the
    notebook's Python with escapes whose fields are bare names read as shell
    text (so they bind nothing); ``foreign`` the lines of cells a cell magic
    runs elsewhere or not at all."""
    tree = parse_python(python)
    if tree is None:
        return lambda _i: {}
    # Nothing binds names unseen before this line's top-level statement (ipynames).
    unseen = unseen_from(tree, source)
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
        for name, value in _bound(stmt):
            if count.get(name) == 1:
                assigned[name] = (value, where, stmt.end_lineno or stmt.lineno)
    # name -> (one value node per branch, where the chain starts, its last
    # line, the lines of each enclosing `if` branch the escape must be in)
    chains: dict[str, tuple[list[ast.expr], tuple[int, int], int, list[tuple[int, int]]]] = {}
    for chain, spans in _if_chains(tree.body, []):
        if chain.lineno - 1 in foreign:
            continue
        for name, nodes in (_alternatives(chain) or {}).items():
            if count.get(name) == len(nodes) and name not in assigned:
                where = (chain.lineno, chain.col_offset)
                chains[name] = (nodes, where, chain.end_lineno or chain.lineno, spans)

    def resolve(node: ast.expr, before: tuple[int, int], depth: int) -> str | None:
        def lookup(name: ast.Name, at: int) -> str | None:
            held = assigned.get(name.id)
            if held is None or held[1] >= before:
                return None
            return resolve(held[0], held[1], at + 1)

        return fold(node, lookup, depth)

    values: dict[str, tuple[tuple[str, ...], int, list[tuple[int, int]]]] = {}
    Pending = tuple[str, list[ast.expr], tuple[int, int], int, list[tuple[int, int]]]
    pending: list[Pending] = [(n, [v], w, last, []) for n, (v, w, last) in assigned.items()]
    pending += [(n, vs, w, last, spans) for n, (vs, w, last, spans) in chains.items()]
    for name, nodes, where, last, spans in pending:
        got = [resolve(node, where, 0) for node in nodes]
        # One shell line per cell line: a value that would start another line
        # (or hold a control character) stays a run-time value.
        if all(g is not None and all(c.isprintable() or c == "\t" for c in g) for g in got):
            values[name] = (tuple(g for g in got if g is not None), last, spans)
    for name, (first, span) in _temp_dirs(tree, count, foreign).items():
        values.setdefault(name, ((_TEMP_DIR,), first, [span]))

    def at(i: int) -> Consts:
        in_function = any(first < i + 1 <= last for first, last in scopes)
        if i >= unseen or (in_function and unseen < len(source)):
            return {}
        return {
            name: got
            for name, (got, last, spans) in values.items()
            if last < i + 1
            and all(first <= i + 1 <= end for first, end in spans)
            and not (in_function and name in params)
        }

    return at


# What `tempfile.TemporaryDirectory()` names (mkdtemp: "tmp" and 8 of
# [a-z0-9_] under the runner's temp root), as the bash rules read it.
_TEMP_DIR = "/tmp/tmpXXXXXXXX"
# What could move the temp root from the runner's own (TMPDIR, TEMP, TMP,
# tempfile.tempdir) when the notebook names it, in any spelling.
_TEMP_ROOT = frozenset(
    {"environ", "environb", "putenv", "unsetenv", "setenv", "tempdir", "TMPDIR", "TEMP", "TMP"}
)


# Every name the temp directory's path is made from (tempfile's own, its
# TemporaryDirectory's and name sequence's, os.path's, random's, the os
# calls mkdtemp makes): none may be written (`os.path.abspath = ...`).
_TEMPFILE_NAMES = frozenset(
    dir(tempfile)
    + dir(tempfile.TemporaryDirectory)
    + ["characters", "rng", "_rng", "_rng_pid", "__next__"]  # its _RandomNameSequence
    + dir(os.path)
    + dir(random.Random)
    + ["mkdir", "fspath", "fsencode", "fsdecode", "getcwd"]
)

# What writes one of those names without an assignment (`object.__setattr__`,
# unittest.mock's patchers, pytest's monkeypatch).
_PATCHERS = frozenset({"__setattr__", "__delattr__", "mock", "patch", "monkeypatch"})


def _temp_dirs(
    tree: ast.Module, count: dict[str, int], foreign: Collection[int]
) -> dict[str, tuple[int, tuple[int, int]]]:
    """Session 23 (flax's gemma notebook: ``with tempfile.TemporaryDirectory()
    as tmp:`` then ``!git clone https://github.com/google/flax.git {tmp}/flax``):
    the name a cell's top-level ``with tempfile.TemporaryDirectory() as name:``
    binds, bound nowhere else, holds a directory the runner's temp root names,
    not text of the notebook's choosing, in that ``with``'s body (name ->
    the ``with`` line, the body's lines). Only with ``tempfile`` bound once,
    by ``import tempfile``, and nothing in the notebook that names the
    environment's writers, ``tempfile.tempdir`` or the variables that set the
    root (``os.environ["TMPDIR"] = "/x;curl .. | sh"`` would put a command
    in it), and what makes the path untouched: ``tempfile`` only read, as
    ``tempfile.<public>(...)``; no attribute named as one of the
    ``_TEMPFILE_NAMES`` written anywhere (a module reached some other way,
    ``m.TemporaryDirectory = ...``, ``os.path.abspath = ...``, would make
    ``tmp`` any text), no ``_PATCHERS``; names bound unseen stop it as
    they stop constants."""
    if count.get("tempfile") != 1 or not any(
        isinstance(n, ast.Import) and any(a.name == "tempfile" and not a.asname for a in n.names)
        for n in tree.body
    ):
        return {}
    called: set[int] = set()  # `tempfile.<public>(...)`: the module only read
    for node in ast.walk(tree):
        if _word(node).split(".")[-1] in _TEMP_ROOT:
            return {}
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tempfile":
            return {}
        if isinstance(node, ast.alias) and node.name == "tempfile" and node.asname:
            return {}
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and node.attr in _TEMPFILE_NAMES
        ) or not _PATCHERS.isdisjoint(_word(node).split(".")):
            return {}
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and not node.func.attr.startswith("_")
        ):
            called.add(id(node.func.value))
    if any(
        isinstance(n, ast.Name) and n.id == "tempfile" and id(n) not in called
        for n in ast.walk(tree)
    ):
        return {}
    out: dict[str, tuple[int, tuple[int, int]]] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.With) or len(stmt.items) != 1 or stmt.lineno - 1 in foreign:
            continue
        item = stmt.items[0]
        call, var = item.context_expr, item.optional_vars
        if (
            isinstance(var, ast.Name)
            and count.get(var.id) == 1
            and isinstance(call, ast.Call)
            and not call.args
            and not call.keywords
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "TemporaryDirectory"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "tempfile"
        ):
            out[var.id] = (stmt.lineno, (stmt.body[0].lineno, stmt.end_lineno or stmt.lineno))
    return out


def _word(node: ast.AST) -> str:
    """The name or string a node spells (an attribute, an import, a keyword,
    a string constant), "" for any other node."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.alias):
        return node.name
    if isinstance(node, ast.keyword):
        return node.arg or ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ""


def _bound(stmt: ast.Assign) -> list[tuple[str, ast.expr]]:
    return [pair for target in stmt.targets for pair in _pairs(target, stmt.value)]


def _if_chains(
    body: list[ast.stmt], spans: list[tuple[int, int]]
) -> Iterator[tuple[ast.If, list[tuple[int, int]]]]:
    """Every ``if`` at a cell's top level or only inside other ``if``
    branches, with the lines of each enclosing branch."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield stmt, spans
            for branch in (stmt.body, stmt.orelse):
                if branch:
                    span = (branch[0].lineno, branch[-1].end_lineno or branch[-1].lineno)
                    yield from _if_chains(branch, [*spans, span])


def _alternatives(chain: ast.If) -> dict[str, list[ast.expr]] | None:
    """The names every branch of an if/elif/else chain binds, once each at
    the branch's top level, with one value per branch; None without an
    ``else``."""
    if not chain.orelse:
        return None
    ours = _branch(chain.body)
    if len(chain.orelse) == 1 and isinstance(chain.orelse[0], ast.If):
        rest = _alternatives(chain.orelse[0])
        if rest is None:
            return None
    else:
        rest = {name: [value] for name, value in _branch(chain.orelse).items()}
    return {name: [ours[name], *rest[name]] for name in ours.keys() & rest.keys()}


def _branch(body: list[ast.stmt]) -> dict[str, ast.expr]:
    # (a name bound twice is counted twice: constants() then rejects it)
    return {n: v for stmt in body if isinstance(stmt, ast.Assign) for n, v in _bound(stmt)}


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


def expanded(cmd: str, known: Consts) -> str | None:
    """``cmd`` as IPython's var_expand makes it (DollarFormatter: ``$name``,
    ``$$`` a literal ``$``, ``{field}``, ``{{``) when every field is a bare
    name in ``known``; None otherwise (the caller keeps its own reading). A
    name with several values gives every command it can make, joined by
    `` ; `` when each stands alone (issue #16)."""
    if not known or len(cmd) > _MAX_COMMAND:
        return None
    try:
        parts = list(string.Formatter().parse(cmd))
    except ValueError:
        return None
    # literal text and the names put between it
    pieces: list[str | tuple[str]] = []
    for literal, field, spec, conversion in parts:
        txt, cont = "", 0
        for m in _IPY_DOLLAR.finditer(literal):
            new_txt, new_field = m.group(1, 2)
            if new_field.startswith("$"):
                txt += new_txt + new_field
            else:
                if new_field not in known:
                    return None
                pieces += [txt + new_txt, (new_field,)]
                txt = ""
            cont = m.end()
        pieces.append(txt + literal[cont:])
        if field is None:
            continue
        # eval() strips leading spaces and tabs; a spec or conversion is code.
        name = field.strip(" \t")
        if spec or conversion is not None or name not in known:
            return None
        pieces.append((name,))
    names = sorted({p[0] for p in pieces if isinstance(p, tuple)})
    combos = list(
        itertools.islice(itertools.product(*(known[n] for n in names)), _MAX_VARIANTS + 1)
    )
    if len(combos) > _MAX_VARIANTS:
        return None
    variants = []
    for combo in combos:
        value = dict(zip(names, combo, strict=True))
        variants.append("".join(p if isinstance(p, str) else value[p[0]] for p in pieces))
    if len(variants) == 1:
        return variants[0]
    if not all(_whole(v) for v in variants):
        return None
    return " ; ".join(dict.fromkeys(variants))


def _whole(command: str) -> bool:
    """A command that ends where its text ends: a second one after `` ; ``
    on the same line is read as a command of its own."""
    if any(c in command for c in ("#", "<<", "`")) or _OPEN_END.search(command):
        return False
    if command.count("(") != command.count(")") or command.count("{") != command.count("}"):
        return False  # a substitution or group left open
    try:
        shlex.split(command, posix=True)
    except ValueError:
        return False  # an open quote or a trailing backslash
    return True
