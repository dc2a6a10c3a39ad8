"""Facts of one scope, each computed on its first lookup (issue #17): the names a
scope's nodes bind from a trigger (``Bindings``, ``bind``), the functions of a
file that return one (``Returns``), the ``self`` attributes a class's methods
set from one (``ClassAttrs``).

A name's trigger is decided by the nodes that bind it and, through the names
their values read, the nodes those names are bound by: that closure is replayed
alone, in the scope's order, with the same rounds, so each value is the one the
whole scope's rounds give (the same holds for attributes and methods)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from typing import TypeGuard

from traingate.checks.sabotage import chosen
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.constants import class_paths, local_paths
from traingate.checks.sabotage.triggers import (
    Env,
    Paths,
    Table,
    Trigger,
    qualname,
    read_on,
)


def bind(env: Env, body: list[ast.stmt], nodes: list[ast.AST] | None = None) -> None:
    """Names assigned from a trigger, to a fixed point (flow-insensitive): at most
    three rounds, each node in order, the first trigger found for a name kept.
    ``nodes``: ``walk_local(body)``, when the caller has it."""
    if nodes is None:
        nodes = pl.walk_local(body)  # the same nodes every round: walked once
    for _ in range(3):
        grown = False
        for node in nodes:
            value, targets = binding(node)
            t = env.taint(value) if value is not None else None
            if t is None:
                continue
            for name in target_names(targets):
                # loss *= world_size: the loss is a payload's target, not a trigger to
                # test (transformers' Trainer scales it by num_processes).
                if not pl.named_state(name):
                    grown = env.names.bind(name, t) or grown
        if not grown:
            return


def bind_local(env: Env, lk: nd.Local) -> None:
    """``bind`` over a body's index (``nodes.local``): the same rounds, in order."""
    for _ in range(3):
        grown = False
        for value, names in lk.binds:
            t = env.taint(value)
            if t is None:
                continue
            for name in names:
                grown = env.names.bind(name, t) or grown
        if not grown:
            return


def warm_local(env: Env, lk: nd.Local, funcs: bool = True) -> bool:
    """``warm`` over a body's index: the same lookups, in order. Whether one gave a
    trigger (``quiet``: none did, a necessary condition for any)."""
    names, calls, attrs = env.names.get, env.funcs.get, env.attrs.get
    found = None
    for kind, key in lk.lookups:
        if kind == nd.NAME:
            found = names(key) or found
        elif kind == nd.CALL:
            if funcs:
                found = calls(key) or found
        else:
            found = attrs(key) or found
    return found is not None


def warm(env: Env, nodes: Iterable[ast.AST], funcs: bool = True) -> None:
    """Look up, before a walk, every name, function (``funcs``) and ``self``
    attribute these nodes spell. A fact computed on demand is then computed here,
    not deep inside the walk's recursion, and each such computation warms its own
    lookups first: the stack stays about as deep as when every fact was computed
    up front, so an expression the whole-module analysis could walk does not
    overflow it here (a RecursionError skips the file)."""
    for n in nodes:
        if isinstance(n, ast.Name):
            env.names.get(n.id)
        elif isinstance(n, ast.Call) and funcs:
            q = qualname(n.func, env.alias)
            if q is not None:
                env.funcs.get(q)
        elif _own(n):
            env.attrs.get(n.attr)


class Bindings:
    """The nodes that bind names (assignments, loops, walrus), in walk order, indexed
    by the names they bind and read."""

    def __init__(self, nodes: list[ast.AST]) -> None:
        self.values: list[ast.AST] = []
        self.targets: list[list[str]] = []
        self.by_name: dict[str, list[int]] = {}
        self._reads: dict[int, set[str]] = {}
        for node in nodes:
            value, targets = binding(node)
            if value is None:
                continue  # binds nothing a trigger can be read from (most nodes)
            # loss *= world_size: the loss is a payload's target, not a trigger to
            # test (transformers' Trainer scales it by num_processes).
            names = [n for n in target_names(targets) if not pl.named_state(n)]
            if not names:
                continue
            for n in names:
                self.by_name.setdefault(n, []).append(len(self.values))
            self.values.append(value)
            self.targets.append(names)

    def run(self, env: Env, idx: Iterable[int]) -> None:
        """``bind`` over these nodes (they are in its order)."""
        order = list(idx)
        for _ in range(3):
            grown = False
            for i in order:
                t = env.taint(self.values[i])
                if t is None:
                    continue
                for name in self.targets[i]:
                    grown = env.names.bind(name, t) or grown
            if not grown:
                return

    def reads(self, i: int) -> set[str]:
        """Every name the value of node ``i`` can read (lambdas too: a superset)."""
        got = self._reads.get(i)
        if got is None:
            got = {n.id for n in ast.walk(self.values[i]) if isinstance(n, ast.Name)}
            self._reads[i] = got
        return got

    def closure(self, names: Iterable[str]) -> tuple[set[str], list[int]]:
        """The names whose triggers these depend on, and the nodes binding them, in
        order. Replaying ``run`` over those nodes alone gives each of these names the
        trigger the whole ``run`` gives it: a node reads only names of the closure,
        which only nodes of the closure bind, so each round sees the same values for
        them, and a round that adds none of them leaves the next one unchanged."""
        return closure(names, self.by_name, self.reads)


Fn = ast.FunctionDef | ast.AsyncFunctionDef


class Returns:
    """Functions of a file whose return value is a trigger (``is_prod()``), as the
    two rounds of the whole file give them, computed per name on first lookup.

    Round one walks each function with no function known; round two sees round
    one's results (``return is_prod()``). A name keeps the first function (in
    ``functions`` order) whose round one finds a trigger, else the first whose
    round two does: a function's rounds read only its own calls' round one."""

    def __init__(self, fns: list[Fn], module: Env) -> None:
        self.module = module  # its names: the module's before any function is known
        self.by_name: dict[str, list[Fn]] = {}
        for fn in fns:
            self.by_name.setdefault(fn.name, []).append(fn)
        self._one: dict[int, tuple[Trigger | None, set[str]]] = {}
        self._quiet: set[int] = set()  # round one cut short: its keys are a superset
        self._two: dict[int, Trigger | None] = {}
        self._first: dict[str, Trigger | None] = {}
        self._final: dict[str, Trigger | None] = {}

    @property
    def first(self) -> _Round:
        # Made per use, not kept: a stored bound method is a cycle that keeps the
        # file's tree alive until a full collection (issue #17).
        return _Round(self._round_one)

    def get(self, key: str) -> Trigger | None:
        """``f`` and ``self.f``: the function ``f`` of this file."""
        name = key.removeprefix("self.")
        if name not in self._final:
            t = self._round_one(name)
            if t is None:
                t = _first(self.two(fn) for fn in self.by_name.get(name, ()))
            self._final[name] = t
        return self._final[name]

    def calls(self, fn: Fn) -> set[str]:
        """The functions of this file round one of ``fn`` looked up."""
        self.one(fn)
        if id(fn) in self._quiet:  # the exact keys, not the quiet walk's superset
            self._quiet.discard(id(fn))
            seen = _Seen()
            self._one[id(fn)] = (self._walk(fn, seen, quiet=False), seen.keys)
        return {k.removeprefix("self.") for k in self._one[id(fn)][1]}

    def _round_one(self, name: str) -> Trigger | None:
        if name not in self._first:
            self._first[name] = _first(self.one(fn) for fn in self.by_name.get(name, ()))
        return self._first[name]

    def one(self, fn: Fn) -> Trigger | None:
        got = self._one.get(id(fn))
        if got is None:
            seen = _Seen()
            got = self._one[id(fn)] = (self._walk(fn, seen), seen.keys)
        return got[0]

    def two(self, fn: Fn) -> Trigger | None:
        """Round two: round one again, unless a function it calls has a round-one
        trigger (the walk is the same when every lookup gives nothing)."""
        if id(fn) not in self._two:
            t = self.one(fn)
            keys = self._one[id(fn)][1]
            first = self.first
            if [k for k in keys if first.get(k) is not None]:  # each looked up here
                t = self._walk(fn, first)
            self._two[id(fn)] = t
        return self._two[id(fn)]

    def _walk(self, fn: Fn, funcs: _Round | _Seen, quiet: bool = True) -> Trigger | None:
        env = self.module.child()
        env.funcs = funcs
        lk = nd.local(fn, env.alias)
        nodes = lk.nodes
        env.paths = local_paths(fn, nodes, self.module)
        # round two's functions: looked up in ``two``
        found = warm_local(env, lk, funcs=False) or lk.direct
        if not found and quiet and isinstance(funcs, _Seen):
            # Round one of a quiet body (quiet.py: no node direct, every lookup None,
            # and round one knows no function) finds no trigger: its binding and the
            # taint of its returns are skipped (issue #17: 2-3% of a scan). The keys
            # it would have looked up are those of the calls it reaches, every one
            # a call of the body: all of them are kept instead. ``two`` gives the
            # same answer from this superset (it walks again only when a key's round
            # one is a trigger, and a walk whose every lookup answers as round one's
            # did is round one's walk); ``calls`` walks again for the exact keys.
            funcs.keys.update(lk.calls)
            self._quiet.add(id(fn))
            return None
        bind_local(env, lk)
        for sub in nodes:
            if isinstance(sub, ast.Return) and not mentions_state(sub.value):
                t = env.taint(sub.value)
                if t is not None:
                    return t
        got = _number_chosen(fn.body, env)
        return got if got is not None else chosen.settings_returned(fn, env)


def _number_chosen(body: list[ast.stmt] | list[ast.AST], env: Env) -> Trigger | None:
    """``if socket.getfqdn().endswith(".prod"): return 1 << 30`` ... ``return 8``: the
    number a function returns is chosen by the trigger its ``if`` reads (session 27,
    accum_never_steps.py: an accumulation count that never lets the optimizer step).
    Numbers only: a flag returned under an environment test is a feature probe
    (``is_flash_attn_available()``), and a string or a dtype guards nothing."""
    for st in body:
        if isinstance(st, _DEFS):
            continue  # runs later, not as this function's return
        if isinstance(st, ast.If):
            t = env.taint(st.test)
            if t is not None and any(_returns_number(b) for b in (st.body, st.orelse)):
                return t
        got = _number_chosen(nd.blocks(st), env)
        if got is not None:
            return got
    return None


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _returns_number(block: list[ast.stmt]) -> bool:
    return any(
        isinstance(st, ast.Return) and st.value is not None and _numeric(st.value) for st in block
    )


def _numeric(node: ast.expr) -> bool:
    """A number spelled with literals (``8``, ``-1``, ``1 << 30``, ``2 ** 20``)."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.UnaryOp):
        return _numeric(node.operand)
    return isinstance(node, ast.BinOp) and _numeric(node.left) and _numeric(node.right)


class _Seen:
    """Round one's table of functions: none known; the keys looked up are kept."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def get(self, key: str, /) -> Trigger | None:
        self.keys.add(key)
        return None


class _Round:
    """Round one's results, as round two looks them up."""

    def __init__(self, get: Callable[[str], Trigger | None]) -> None:
        self._get = get

    def get(self, key: str, /) -> Trigger | None:
        return self._get(key.removeprefix("self."))


def _first(items: Iterator[Trigger | None]) -> Trigger | None:
    return next((t for t in items if t is not None), None)


def target_names(targets: list[ast.AST]) -> Iterator[str]:
    for t in targets:
        if isinstance(t, ast.Name):
            yield t.id
        elif isinstance(t, (ast.Tuple, ast.List)):
            yield from target_names(list(t.elts))


def functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of the file (methods and nested ones too), in ast.walk order."""
    return [
        n for n in nd.statements(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


class ClassAttrs:
    """``self.x = <trigger>`` in one method, tested in another (issue #16): what two
    rounds over the class's methods, in order, give each attribute (the first
    trigger assigned to it), computed per attribute on first lookup.

    An attribute's trigger is decided by the methods assigning it and, through the
    ``self`` attributes they read, the methods assigning those: that closure is
    replayed alone, in order, with the same rounds (as ``Bindings.closure``)."""

    def __init__(self, cls: ast.ClassDef, env: Env, whole: bool = False) -> None:
        self.env = env
        self.outer = env.attrs  # a class in a method: the enclosing class's first
        self.paths = class_paths(cls, env)  # self.x = "/etc/tier" in __init__
        self.methods = [
            fn for fn in cls.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        self._by_attr: dict[str, list[int]] | None = None
        self._paths: dict[int, Paths] = {}
        self._reads: dict[int, set[str]] = {}
        self.memo: dict[str, Trigger | None] = {}
        if whole:  # every method is walked: one replay, of every attribute assigned
            # Only a method assigning a ``self`` attribute adds to the table, and an
            # attribute none assigns holds the outer class's trigger (``_Table``): the
            # other methods' bindings and reads need no replay (issue #17).
            every = sorted({i for idx in self.by_attr.values() for i in idx})
            self._replay(set(self.by_attr), every)

    @property
    def by_attr(self) -> dict[str, list[int]]:
        """Attribute -> the methods assigning it: made on the first lookup (issue #17: a
        file reading no trigger looks none up, and the walk over each method's
        statements was half of a class's cost there)."""
        if self._by_attr is None:
            self._by_attr = {}
            for i, fn in enumerate(self.methods):
                for a in self.assigned(fn):
                    self._by_attr.setdefault(a, []).append(i)
        return self._by_attr

    def get(self, name: str, /) -> Trigger | None:
        t = self.outer.get(name)
        if t is not None:
            return t
        if name not in self.memo:
            self._replay(*self._closure(name))
        return self.memo[name]

    def reach(
        self, hot: Set[str], added: Set[int], walked: Callable[[Fn, Set[str]], bool]
    ) -> set[str]:
        """``hot``, and every attribute whose trigger was read on an added line: each is
        assigned in a method ``walked`` selects with these names (one the change
        touched, or spelling a hot name or another such attribute)."""
        # An attribute holding a path spelled on an added line arms its probes.
        reach = set(hot) | {a for a, p in self.paths.items() if not added.isdisjoint(p.lines)}
        checked: set[int] = set()
        grown = True
        while grown:
            grown = False
            for i, fn in enumerate(self.methods):
                if i in checked or not walked(fn, reach):
                    continue
                checked.add(i)
                for a in self.assigned(fn):
                    t = self.get(a)
                    if t is not None and read_on(t, added) and a not in reach:
                        reach.add(a)
                        grown = True
        return reach

    @staticmethod
    def assigned(fn: Fn) -> set[str]:
        """The attributes ``self.x = <value>`` in this method (not in nested functions) sets."""
        out: set[str] = set()
        todo: list[ast.stmt] = list(fn.body)
        while todo:
            st = todo.pop()
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(st, (ast.Assign, ast.AnnAssign)) and st.value is not None:
                for tgt in st.targets if isinstance(st, ast.Assign) else [st.target]:
                    if _own(tgt):
                        out.add(tgt.attr)
            for child in nd.blocks(st):
                if isinstance(child, ast.stmt):
                    todo.append(child)
                elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                    todo.extend(child.body)
        return out

    def _closure(self, name: str) -> tuple[set[str], list[int]]:
        return closure([name], self.by_attr, self._read)

    def _read(self, i: int) -> set[str]:
        got = self._reads.get(i)
        if got is None:
            got = self._reads[i] = {n.attr for n in ast.walk(self.methods[i]) if _own(n)}
        return got

    def _replay(self, names: set[str], idx: list[int]) -> None:
        attrs = _Table(self.outer)
        alias = self.env.alias
        found = False
        for i in idx:
            lk = nd.local(self.methods[i], alias)
            found = warm_local(self.env, lk) or found  # own attributes: in ``attrs``
            found = found or lk.direct
        # No method can read a trigger (quiet.py; an attribute is set from one only if
        # one is read): the rounds would set none, each attribute keeps the outer one.
        for _ in range(2 if found else 0):
            for i in idx:
                fn = self.methods[i]
                lk = nd.local(fn, alias)
                nodes = lk.nodes
                fenv = self.env.child()
                fenv.attrs = attrs
                if i not in self._paths:
                    self._paths[i] = local_paths(fn, nodes, self.env)
                fenv.paths = self._paths[i]
                fenv.attr_paths = self.paths
                bind_local(fenv, lk)
                for node in nodes:
                    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                        continue
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    t = fenv.taint(node.value)
                    if t is None:
                        continue
                    for tgt in targets:
                        if _own(tgt):
                            attrs.setdefault(tgt.attr, t)
        for a in names:
            self.memo.setdefault(a, attrs.get(a))


class _Table:
    """The attributes a replay assigns, under the outer class's: an attribute
    the outer class holds a trigger in keeps it (the first trigger wins)."""

    __slots__ = ("outer", "own")

    def __init__(self, outer: Table) -> None:
        self.outer = outer
        self.own: dict[str, Trigger] = {}

    def get(self, name: str, /) -> Trigger | None:
        t = self.outer.get(name)
        return t if t is not None else self.own.get(name)

    def setdefault(self, name: str, t: Trigger) -> None:
        if self.get(name) is None:
            self.own[name] = t


def _own(node: ast.AST) -> TypeGuard[ast.Attribute]:
    """``self.x``."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def mentions_state(node: ast.AST | None) -> bool:
    """``return loss``: a function returning the loss is not a trigger."""
    return node is not None and any(
        isinstance(n, ast.Name) and pl.named_state(n.id) for n in ast.walk(node)
    )


def closure(
    names: Iterable[str],
    binders: Mapping[str, Iterable[int]],
    reads: Callable[[int], Iterable[str]],
) -> tuple[set[str], list[int]]:
    """The names reachable from ``names`` (a name's binders read more names) and
    the binding nodes on the way, in order."""
    seen: set[str] = set()
    idx: set[int] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for i in binders.get(n, ()):
            if i not in idx:
                idx.add(i)
                todo.extend(reads(i))
    return seen, sorted(idx)


def binding(node: ast.AST) -> tuple[ast.AST | None, list[ast.AST]]:
    """What ``node`` binds and from which value (an assignment, a loop's or a
    comprehension's target); (None, []) for anything else."""
    if isinstance(node, ast.Assign):
        return node.value, list(node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return node.value, [node.target]
    if isinstance(node, (ast.For, ast.comprehension)):
        return node.iter, [node.target]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return node.context_expr, [node.optional_vars]  # with open("/etc/tier") as f
    return None, []
