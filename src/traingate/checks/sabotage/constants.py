"""Names that hold a path outside the repository (issue #16): ``_MARKER =
"/etc/cluster-b"``, then ``os.path.exists(_MARKER)``. A probe of such a name is
the probe of the literal (``Env.spelled_path``), so moving the path into a
constant changes nothing.

A name counts when its scope binds it exactly once, by an assignment whose
value spells the path the way a probe's argument may (a literal, an f-string,
``os.path.join``/``Path(...)``/``/`` of one, or another such constant), or by
a loop over a sequence holding one (``for m in _MARKERS``); a module-level
name also when no function rebinds it (``global``). A name bound more than
once, a parameter, or a name a function rebinds locally is the job's own
value, as a computed path is. A ``self`` attribute counts when the class's
methods set it once, in ``__init__``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable, Mapping

from traingate.checks.sabotage.nodes import body_nodes, statements
from traingate.checks.sabotage.triggers import Env, PathConst, Paths, stmt_walk

Fn = ast.FunctionDef | ast.AsyncFunctionDef


def module_paths(
    tree: ast.Module, alias: Mapping[str, str], nodes: list[ast.AST]
) -> dict[str, PathConst]:
    """The module's constants. ``nodes``: ``walk_local(tree.body)``."""
    cands, counts = _scan(nodes)
    if not cands:
        return {}
    for st in statements(tree):  # a function's `global X` makes any X = ... rebind it
        if isinstance(st, (ast.Global, ast.Nonlocal)):
            for n in st.names:
                counts[n] = counts.get(n, 0) + 2
    return _resolve(cands, counts, Env(alias), set())


class Lazy:
    """A table computed on its first lookup: most functions and classes probe no
    path, and computing every scope's table cost a sixth of the analysis."""

    __slots__ = ("_make", "_table")

    def __init__(self, make: Callable[[], Paths]) -> None:
        self._make: Callable[[], Paths] | None = make
        self._table: Paths | None = None

    def _get_table(self) -> Paths:
        if self._table is None:
            assert self._make is not None
            self._table, self._make = self._make(), None
        return self._table

    def get(self, key: str, /) -> PathConst | None:
        return self._get_table().get(key)

    def items(self) -> Iterable[tuple[str, PathConst]]:
        """A class's table (a dict): what the cut looks through."""
        table = self._get_table()
        return table.items() if isinstance(table, dict) else ()


def local_paths(fn: Fn, nodes: list[ast.AST], parent: Env) -> Paths:
    """A function's constants over its parent's, which its own bindings hide.
    ``nodes``: ``walk_local(fn.body)``."""
    return Lazy(
        functools.partial(_local_paths, fn, nodes, parent.alias, parent.paths, parent.attr_paths)
    )


def _local_paths(
    fn: Fn, nodes: list[ast.AST], alias: Mapping[str, str], paths: Paths, attr_paths: Paths
) -> Paths:
    args = fn.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    cands, counts = _scan(nodes)
    for st in stmt_walk(fn):
        if isinstance(st, (ast.Global, ast.Nonlocal)):
            for n in st.names:
                counts[n] = counts.get(n, 0) + 2
        elif st is not fn and isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            counts[st.name] = counts.get(st.name, 0) + 2
    env = Env(alias)
    env.paths, env.attr_paths = paths, attr_paths
    # A parameter whose default spells a path, never rebound in the body
    # (`def loss(model, batch, marker="/etc/cluster-b")`): the default is evaluated
    # where the function is defined, so in its parent's scope.
    defaults: dict[str, PathConst] = {}
    for arg, default in param_defaults(args):
        got = env.spelled_path(default) if arg not in counts else None
        if got is not None:
            defaults[arg] = PathConst(got.path, (*got.lines, default.lineno))
    for p in params:
        counts[p] = counts.get(p, 0) + 2
    hidden = set(counts) | params
    own = _resolve([c for c in cands if c[0] not in params], counts, env, hidden)
    own.update(defaults)
    return _Local(own, hidden, paths)


def param_defaults(args: ast.arguments) -> list[tuple[str, ast.expr]]:
    positional = [*args.posonlyargs, *args.args]
    given = positional[len(positional) - len(args.defaults) :]
    out = [(a.arg, d) for a, d in zip(given, args.defaults, strict=True)]
    out += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    return out


def class_paths(cls: ast.ClassDef, parent: Env) -> Lazy:
    """``self.x = "/etc/tier"`` in ``__init__``, the only assignment of ``self.x``."""
    return Lazy(functools.partial(_class_paths, cls, parent.alias, parent.paths))


def _class_paths(cls: ast.ClassDef, alias: Mapping[str, str], paths: Paths) -> dict[str, PathConst]:
    init = next(
        (f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
         and f.name == "__init__"),
        None,
    )  # fmt: skip
    if init is None:
        return {}
    nodes = body_nodes(init)
    wanted: dict[str, tuple[ast.expr, int]] = {}
    for st in nodes:
        pair = _assignment(st)
        if pair is not None and isinstance(pair[0], ast.Attribute) and _is_self(pair[0].value):
            wanted[pair[0].attr] = (pair[1], getattr(st, "lineno", 0))
    if not wanted:
        return {}
    counts: dict[str, int] = {}
    for n in ast.walk(cls):
        if (
            isinstance(n, ast.Attribute)
            and not isinstance(n.ctx, ast.Load)
            and _is_self(n.value)
            and n.attr in wanted
        ):
            counts[n.attr] = counts.get(n.attr, 0) + 1
    env = Env(alias)
    env.paths = _local_paths(init, nodes, alias, paths, {})
    out: dict[str, PathConst] = {}
    for attr, (value, line) in wanted.items():
        got = env.spelled_path(value) if counts.get(attr) == 1 else None
        if got is not None:
            out[attr] = PathConst(got.path, (*got.lines, line))
    return out


class _Local:
    """A function's own constants; the names it binds otherwise hide its parent's."""

    __slots__ = ("hidden", "own", "parent")

    def __init__(self, own: Paths, hidden: set[str], parent: Paths) -> None:
        self.own, self.hidden, self.parent = own, hidden, parent

    def get(self, key: str, /) -> PathConst | None:
        got = self.own.get(key)
        if got is not None or key in self.hidden:
            return got
        return self.parent.get(key)


# (name, value, line, loop): an assignment, or a loop (for/comprehension) over ``value``.
_Cand = tuple[str, ast.expr, int, bool]


def _scan(nodes: Iterable[ast.AST]) -> tuple[list[_Cand], dict[str, int]]:
    """The candidates, and how often each name is bound in these nodes (any binding
    form). One pass, a type lookup per node: it runs over every module."""
    cands: list[_Cand] = []
    counts: dict[str, int] = {}
    for n in nodes:
        if type(n) not in _BINDING:  # most nodes: one set lookup
            continue
        name: str | None = None
        if isinstance(n, ast.Name):
            name = None if isinstance(n.ctx, ast.Load) else n.id
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            got = _assignment(n)
            if got is not None and isinstance(got[0], ast.Name):
                cands.append((got[0].id, got[1], n.lineno, False))
        elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(n.target, ast.Name):
                line = getattr(n, "lineno", getattr(n.iter, "lineno", 0))
                cands.append((n.target.id, n.iter, line, True))
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                key = a.asname or a.name.split(".")[0]
                counts[key] = counts.get(key, 0) + 1
        elif isinstance(n, ast.MatchMapping):
            name = n.rest
        elif isinstance(n, _NAMED):  # a definition, an except handler, a match capture
            name = n.name
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return cands, counts


_NAMED = (
    *(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef),
    *(ast.ExceptHandler, ast.MatchAs, ast.MatchStar),
)
_BINDING = frozenset(
    {ast.Name, ast.Assign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension}
    | {ast.Import, ast.ImportFrom, ast.MatchMapping, ast.ExceptHandler, ast.MatchAs}
    | {ast.MatchStar, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef}
)


def _assignment(n: ast.AST) -> tuple[ast.expr, ast.expr] | None:
    """(target, value) of ``x = v`` / ``x: T = v`` whose value can spell a path."""
    if isinstance(n, ast.Assign) and len(n.targets) == 1:
        target, value = n.targets[0], n.value
    elif isinstance(n, ast.AnnAssign) and n.value is not None:
        target, value = n.target, n.value
    else:
        return None
    return (target, value) if isinstance(value, _MAY_PATH) else None


# Values that can spell a path: a cheap pre-test (most assignments are calls or
# arithmetic of other kinds, judged by ``spelled_path`` afterwards).
_MAY_PATH = (ast.Constant, ast.JoinedStr, ast.BinOp, ast.Call, ast.Name, ast.Tuple, ast.List) + (
    ast.Set,
    ast.Subscript,
)


def _resolve(
    cands: list[_Cand], counts: Mapping[str, int], env: Env, hidden: set[str]
) -> dict[str, PathConst]:
    """The candidates bound once whose value spells a path, constants through
    constants (in any order: a function may use a name bound below it). ``hidden``:
    the names this scope binds, which its parent's do not reach."""
    once = {c[0]: c for c in cands if counts.get(c[0]) == 1}
    table = _Resolver(once, env, hidden)
    out = {}
    for name in once:
        got = table.get(name)
        if got is not None:
            out[name] = got
    env.paths = table.parent  # no cycle left behind (env -> table -> env), issue #17
    return out


class _Resolver:
    """Each constant resolved on its first lookup, through the ones its value names."""

    def __init__(self, once: dict[str, _Cand], env: Env, hidden: set[str]) -> None:
        self.once, self.env, self.hidden = once, env, hidden
        self.parent = env.paths
        self.memo: dict[str, PathConst | None] = {}
        env.paths = self

    def get(self, key: str, /) -> PathConst | None:
        if key in self.memo:
            return self.memo[key]
        cand = self.once.get(key)
        if cand is None:
            return None if key in self.hidden else self.parent.get(key)
        self.memo[key] = None  # a = b; b = a: a cycle holds no path
        _, value, line, loop = cand
        got = _seq(value, self.env) if loop else _value(value, self.env, line)
        self.memo[key] = got
        return got


def _value(value: ast.expr, env: Env, line: int) -> PathConst | None:
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        got = _seq(value, env)
        return PathConst(got.path, (*got.lines, line), seq=True) if got is not None else None
    got = env.spelled_path(value)
    if got is not None:
        return PathConst(got.path, (*got.lines, line), seq=got.seq)
    if isinstance(value, ast.Name):  # _ALL = _MARKERS: a sequence under another name
        seq = env.paths.get(value.id)
        if seq is not None and seq.seq:
            return PathConst(seq.path, (*seq.lines, line), seq=True)
    return None


def _seq(value: ast.expr, env: Env) -> PathConst | None:
    """A sequence holding an absolute path: its first such element, as a loop variable
    over it sees it (``seq`` is cleared)."""
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        for e in value.elts:
            got = env.spelled_path(e)
            if got is not None:
                return PathConst(got.path, got.lines)
        return None
    if isinstance(value, ast.Name):
        got = env.paths.get(value.id)
        if got is not None and got.seq:
            return PathConst(got.path, got.lines)
    return None


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"
