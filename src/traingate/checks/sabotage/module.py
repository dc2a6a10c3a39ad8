"""What a module tells before any function is walked: which names, ``self``
attributes and functions (this file's, or one import away) carry a trigger,
which functions are gradient hooks, and which write noise into an argument."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Set

from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.cut import as_read, line_tokens, span
from traingate.checks.sabotage.triggers import (
    Env,
    Trigger,
    aliases,
    int_constants,
    last_name,
    qualname,
    stmt_walk,
)

# (level, module) of a `from ... import` -> (path, source) of that module in the head tree.
Lookup = Callable[[int, str], "tuple[str, str] | None"]


# function (as qualname() spells a call) -> (its file, parameter index -> the random write)
Writers = dict[str, tuple[str, dict[int, str]]]


def bind(env: Env, body: list[ast.stmt], nodes: list[ast.AST] | None = None) -> None:
    """Names assigned from a trigger, to a fixed point (flow-insensitive).
    ``nodes``: ``walk_local(body)``, when the caller has it."""
    if nodes is None:
        nodes = pl.walk_local(body)  # the same nodes every round: walked once
    for _ in range(3):
        before = len(env.names)
        for node in nodes:
            value: ast.AST | None = None
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                value, targets = node.value, list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                value, targets = node.value, [node.target]
            elif isinstance(node, (ast.For, ast.comprehension)):
                value, targets = node.iter, [node.target]
            t = env.taint(value) if value is not None else None
            if t is None:
                continue
            for name in target_names(targets):
                # loss *= world_size: the loss is a payload's target, not a trigger to
                # test (transformers' Trainer scales it by num_processes).
                if not pl.named_state(name):
                    env.names.setdefault(name, t)
        if len(env.names) == before:
            return


def facts(
    tree: ast.Module,
    filename: str,
    alias: dict[str, str],
    lookup: Lookup | None,
    wanted: Set[str] | None,
    scope: list[ast.AST],
) -> tuple[Env, Writers]:
    """What the module binds before any function is walked; the functions' entries
    exact for the calls in ``wanted`` (None: all)."""
    module = Env(alias)
    module.consts = int_constants(tree)
    bind(module, tree.body, scope)
    far, writers = imported(tree, lookup, wanted)
    module.funcs = {**far, **returning(tree, module, wanted)}
    bind(module, tree.body, scope)
    local = pl.random_writers(tree, alias, wanted)
    writers.update({k: (filename, v) for k, v in local.items()})
    return module, writers


def hot(module: Env, hooks: dict[str, tuple[int, ...]], added: Set[int]) -> set[str]:
    """Identifiers through which an unchanged unit can reach an added line."""
    out = {k for k, t in module.names.items() if t.line in added}
    out.update(k.rsplit(".", 1)[-1] for k, t in module.funcs.items() if t.line in added)
    out.update(k for k, lines in hooks.items() if not added.isdisjoint(lines))
    return out


def module_collective(tree: ast.Module, alias: dict[str, str]) -> bool:
    """A collective the module-level walk judges (``paired`` looks at every rank
    branch of the file, so the cut would need all of them)."""
    top = [
        st
        for st in tree.body
        if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    return any(
        isinstance(n, ast.Call) and pl.collective(n, alias) is not None for n in pl.walk_local(top)
    )


def target_names(targets: list[ast.AST]) -> Iterator[str]:
    for t in targets:
        if isinstance(t, ast.Name):
            yield t.id
        elif isinstance(t, (ast.Tuple, ast.List)):
            yield from target_names(list(t.elts))


def imported(
    tree: ast.Module, lookup: Lookup | None, wanted: Set[str] | None = None
) -> tuple[dict[str, Trigger], Writers]:
    """``from .schedule import is_release_day``: a trigger one file away (one level:
    the helper itself must read the trigger, not call a third module for it); and
    ``from .tensor_ops import perturb_``, a helper that writes noise into its argument.

    ``wanted``: the only calls the analysis can look up (None: all); a helper
    none of whose imported names is called is not read."""
    out: dict[str, Trigger] = {}
    writers: Writers = {}
    if lookup is None:
        return out, writers
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        mod = "." * node.level + (node.module or "")
        names = [a for a in node.names if wanted is None or _key(mod, a.name) in wanted]
        if not names:
            continue
        found = lookup(node.level, node.module or "")
        if found is None:
            continue
        path, text = found
        names = [a for a in names if _may_define(text, a.name)]
        helper = helper_facts(path, text) if names else None
        if helper is None:
            continue
        for a in names:
            key = _key(mod, a.name)
            t, writes = helper.facts(a.name)
            if t is not None:
                what = f"{a.name}() ({path}:{t.line} reads {t.what})"
                out[key] = Trigger(t.kind, what, node.lineno)
            if writes is not None:
                writers[key] = (path, writes)
    return out, writers


def _key(mod: str, name: str) -> str:
    """An imported function as qualname() spells its call: through the import's alias."""
    return f"{mod}.{name}" if mod else name


def _may_define(text: str, name: str) -> bool:
    """Whether a module can define a function ``name`` (both facts are about one):
    a re-export (``from .x import name``) or a class is not parsed for nothing."""
    pattern = rf"\bdef(?:[ \t\f]|\\\r?\n|\\\r)+{re.escape(name)}\b"
    return re.search(pattern, _as_read(text)) is not None


@functools.lru_cache(maxsize=64)
def _as_read(text: str) -> str:
    return as_read(text)  # identifiers are NFKC-normalised: search them as Python reads them


class Helper:
    """An imported module, parsed once; each imported name's facts computed on demand
    (a helper of thousands of lines is read for the two names a file imports)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.env = Env(aliases(tree))
        bind(self.env, tree.body)
        self.fns = functions(tree)
        self.memo: dict[str, tuple[Trigger | None, dict[int, str] | None]] = {}

    def facts(self, name: str) -> tuple[Trigger | None, dict[int, str] | None]:
        """Whether ``name()`` returns a trigger, and which arguments it fills with noise."""
        if name not in self.memo:
            funcs = returning(self.tree, self.env, {name}, self.fns)
            writes = pl.random_writers(self.tree, self.env.alias, {name})
            self.memo[name] = (funcs.get(name), writes.get(name))
        return self.memo[name]


@functools.lru_cache(maxsize=64)
def helper_facts(path: str, text: str) -> Helper | None:
    """An imported module, cached: many changed files import the same helper."""
    try:
        return Helper(ast.parse(text, path))
    except (SyntaxError, ValueError, RecursionError):
        return None


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of the file (methods and nested ones too), in ast.walk order."""
    return [n for n in stmt_walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def called(fn: ast.AST, alias: Mapping[str, str]) -> set[str]:
    """Every ``Env.funcs`` key a function's calls can look up."""
    out: set[str] = set()
    for n in ast.walk(fn):
        if isinstance(n, ast.Call):
            q = qualname(n.func, alias)
            if q is not None:
                out.add(q)
                out.add(q.removeprefix("self."))
    return out


def returning(
    tree: ast.Module,
    module: Env,
    wanted: Set[str] | None = None,
    fns: list[ast.FunctionDef | ast.AsyncFunctionDef] | None = None,
) -> dict[str, Trigger]:
    """Functions of this file whose return value is a trigger (``is_prod()``).

    Two rounds: the second sees the first's results (``return is_prod()``).
    ``wanted``: only these names' entries are needed (None: all); they are exact,
    as their first round sees every name they call."""
    fns = functions(tree) if fns is None else fns
    rounds: tuple[Set[str] | None, Set[str] | None] = (None, None)
    if wanted is not None:
        first = set(wanted)
        for fn in fns:
            if fn.name in wanted:
                first |= called(fn, module.alias)
        rounds = (first, wanted)
    out: dict[str, Trigger] = {}
    walked: dict[int, list[ast.AST]] = {}  # each body walked once for both rounds
    for names in rounds:
        module.funcs = dict(out)
        for node in fns:
            if names is not None and node.name not in names:
                continue
            env = module.child()
            nodes = walked.get(id(node))
            if nodes is None:
                nodes = walked[id(node)] = pl.walk_local(node.body)
            bind(env, node.body, nodes)
            for sub in nodes:
                if isinstance(sub, ast.Return) and not mentions_state(sub.value):
                    t = env.taint(sub.value)
                    if t is not None:
                        out.setdefault(node.name, t)
                        out.setdefault(f"self.{node.name}", t)
                        break
        if not out:
            break  # a second round with no results to see is the first again
    return out


def class_attrs(cls: ast.ClassDef, env: Env) -> dict[str, Trigger]:
    """``self.x = <trigger>`` in one method, tested in another (issue #16)."""
    attrs: dict[str, Trigger] = dict(env.attrs)
    methods = [
        (fn, pl.walk_local(fn.body))
        for fn in cls.body
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for _ in range(2):
        for fn, nodes in methods:
            fenv = env.child()
            fenv.attrs = attrs
            bind(fenv, fn.body, nodes)
            for node in nodes:
                if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                t = fenv.taint(node.value)
                if t is None:
                    continue
                for tgt in targets:
                    if (
                        isinstance(tgt, ast.Attribute)
                        and isinstance(tgt.value, ast.Name)
                        and tgt.value.id == "self"
                    ):
                        attrs.setdefault(tgt.attr, t)
    return attrs


_REGISTRAR = re.compile("|".join(sorted(pl.HOOK_REGISTRARS)))


def hook_functions(tree: ast.Module, source: str) -> dict[str, tuple[int, ...]]:
    """Functions passed to register_hook and friends (or decorated with one): their
    return is a gradient. Name -> the lines that register it: a hit in the hook
    rests on them too, so an added registration of an unchanged function is kept."""
    roots: list[ast.AST] = [tree]
    # Only the statements spelling a registrar are walked. A lone CR ends a line
    # for Python, not for split("\n"): the whole tree then.
    if "\r" not in source:
        lines = {n for n, text in enumerate(source.split("\n"), 1) if _registrar(text)}
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
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _registrar(line: str) -> bool:
    if line.isascii():
        return _REGISTRAR.search(line) is not None
    # Identifiers are NFKC-normalised: read the line as Python does.
    return not pl.HOOK_REGISTRARS.isdisjoint(line_tokens(line))


def _within(st: ast.stmt, line: int) -> bool:
    first, last = span(st)
    return first <= line <= last


def mentions_state(node: ast.AST | None) -> bool:
    """``return loss``: a function returning the loss is not a trigger."""
    return node is not None and any(
        isinstance(n, ast.Name) and pl.named_state(n.id) for n in ast.walk(node)
    )
