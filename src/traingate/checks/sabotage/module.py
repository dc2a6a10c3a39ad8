"""What a module tells before any function is walked: which names, ``self``
attributes and functions (this file's, or one import away) carry a trigger,
which functions are gradient hooks, and which write noise into an argument.

Each fact is computed on its first lookup, for that name only (issue #17): a
large file's change walks a few functions, which read a few module names and
call a few functions. A name's trigger is decided by the nodes that bind it and,
through the names their values read, the nodes those names are bound by: that
closure is replayed in the module's order with the same rounds (``Bindings``),
so the value is the one the whole module's ``bind`` gives."""

from __future__ import annotations

import ast
import bisect
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Protocol

from traingate import pyast
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.constants import Lazy, module_paths
from traingate.checks.sabotage.cut import as_read, expand
from traingate.checks.sabotage.lru import ByLength
from traingate.checks.sabotage.scopes import (
    Bindings,
    Fn,
    Returns,
    functions,
    warm,
)
from traingate.checks.sabotage.store import STATS, PerText, Store
from traingate.checks.sabotage.store import Facts as HelperFacts
from traingate.checks.sabotage.triggers import (
    Env,
    Names,
    Paths,
    Trigger,
    aliases,
    int_constants,
    read_on,
)

# (level, module) of a `from ... import` -> (path, source) of that module in the head tree.
Lookup = Callable[[int, str], "tuple[str, str] | None"]
# Where a helper writes noise: its file, parameter index -> the random write.
Writes = tuple[str, dict[int, str]]


class Writers(Protocol):
    """function (as qualname() spells a call) -> where it writes noise into an argument."""

    def get(self, key: str, /) -> Writes | None: ...


class Facts:
    """The module's facts, each computed on its first lookup. ``env``: the module's
    names after both ``bind`` rounds (before and after functions are known), its
    functions (this file's over imported ones); ``writers``: the noise writers."""

    def __init__(
        self,
        tree: ast.Module,
        filename: str,
        alias: dict[str, str],
        lookup: Lookup | None,
        scope: list[ast.AST],
        store: Store | None = None,
    ) -> None:
        self.tree = tree
        self.filename = filename
        self.lookup = lookup
        self.store = store  # helpers' facts from earlier runs
        self._scope = scope
        self._binds: Bindings | None = None
        consts = int_constants(tree)
        # Both made on first use (issue #17): a file reading no trigger (``analysis._whole``)
        # replays no name and probes no path.
        self.paths = Lazy(functools.partial(module_paths, tree, alias, scope))
        self.before = Names(resolve=self._before)  # names, no function known yet
        early = Env(alias, self.before)
        early.consts, early.paths = consts, self.paths
        self.returns = Returns(functions(tree), early)
        self.env = Env(alias, Names(resolve=self._after), funcs=self)
        self.env.consts, self.env.paths = consts, self.paths
        self.writers: Writers = _Writers(self)
        # ``from .tier import is_prod``, as qualname() spells its calls: the last wins.
        self.imports: dict[str, list[tuple[ast.ImportFrom, str]]] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                for a in node.names:
                    self.imports.setdefault(_key(mod, a.name), []).append((node, a.name))
        self._far: dict[str, tuple[Trigger | None, Writes | None]] = {}
        self._warm: set[int] = set()  # binding values whose calls are looked up
        self._local_writes: dict[str, dict[int, str] | None] = {}
        # Only a function of the module can be a local writer: one set, not a pass
        # over the module's statements per name called (issue #17).
        self._defs = {
            st.name for st in tree.body if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))
        }

    @property
    def binds(self) -> Bindings:
        """The module's binding nodes (``Bindings``), indexed on the first replay."""
        if self._binds is None:
            self._binds = Bindings(module_binders(self.tree, self._scope))
        return self._binds

    def close(self) -> None:
        """Drop the references back to these facts (names resolved and functions
        looked up through them): the cycle would keep the file's tree alive until
        a full collection, which traverses every live object (issue #17)."""
        self.before.resolve = None
        self.env.names.resolve = None
        self.env.funcs = {}
        self.writers = {}

    def everything(self) -> None:
        """Every module name at once (``scan``: all of them are read)."""
        self._replay(set(self.binds.by_name), list(range(len(self.binds.values))))

    # ------------------------------------------------------------------ names

    def _before(self, name: str) -> Trigger | None:
        self._replay(*self.binds.closure([name]))
        return self.before.memo[name]

    def _after(self, name: str) -> Trigger | None:
        self._replay(*self.binds.closure([name]))
        return self.env.names.memo[name]

    def _replay(self, names: set[str], idx: list[int]) -> None:
        """Both rounds of ``bind`` over a closure: the module's first, with no
        function known, then again once functions are."""
        if any(n not in self.before.memo for n in names):
            env = Env(self.env.alias)
            env.consts, env.paths = self.env.consts, self.paths
            self.binds.run(env, idx)
            for n in names:
                self.before.memo.setdefault(n, env.names.own.get(n))
        env = Env(self.env.alias, funcs=self)
        env.consts, env.paths = self.env.consts, self.paths
        # The functions these values call, looked up ahead (``scopes.warm``): each value once.
        for i in idx:
            if i not in self._warm:
                self._warm.add(i)
                calls = (n for n in nd.walk_all(self.binds.values[i]) if isinstance(n, ast.Call))
                warm(env, calls)
        for n in names:
            t = self.before.memo[n]
            if t is not None:
                env.names.own[n] = t
        self.binds.run(env, idx)
        for n in names:
            self.env.names.memo.setdefault(n, env.names.own.get(n))

    # ------------------------------------------------------------------ functions

    def get(self, key: str, /) -> Trigger | None:
        """``Env.funcs``: a function of this file, else one imported from the repository."""
        t = self.returns.get(key)
        return t if t is not None else self.far(key)[0]

    def far(self, key: str) -> tuple[Trigger | None, Writes | None]:
        """``from .schedule import is_release_day``: a trigger one file away (one level:
        the helper itself must read the trigger, not call a third module for it); and
        ``from .tensor_ops import perturb_``, a helper that writes noise into its
        argument. A helper is read only when a call the analysis judges names it."""
        memo = self._far.get(key)
        if memo is not None:
            return memo
        trigger: Trigger | None = None
        writes: Writes | None = None
        for node, name in self.imports.get(key, []) if self.lookup is not None else []:
            assert self.lookup is not None
            found = self.lookup(node.level, node.module or "")
            if found is None:
                continue
            path, text = found
            known = _known(path, text, name, self.store)
            if known is None:
                continue
            t, w = known
            if t is not None:
                trigger = Trigger(t.kind, f"{name}() ({path}:{t.line} reads {t.what})", node.lineno)
            if w is not None:
                writes = (path, w)
        self._far[key] = (trigger, writes)
        return trigger, writes

    def local_writes(self, key: str) -> dict[int, str] | None:
        if key not in self._local_writes:
            got = None
            if key in self._defs:
                got = pl.random_writers(self.tree, self.env.alias, {key}).get(key)
            self._local_writes[key] = got
        return self._local_writes[key]

    # ------------------------------------------------------------------ the cut

    def hot(
        self,
        hooks: dict[str, tuple[int, ...]],
        added: Set[int],
        imported: Set[str],
        armed: Iterable[Fn],
        tokens: Callable[[int, int], set[str]],
    ) -> set[str]:
        """Identifiers through which an unchanged unit can reach an added line: module
        names and functions whose trigger was read on an added line, and hooks
        registered on one. ``imported``: the keys of added imports; ``armed``: every
        function that can give its name a trigger read on an added line (one that
        is touched, or spells such a name: ``Plan.armed``).

        A name's trigger is read on an added line only when a node binding it has an
        added line in its value, or reads (spells) a name or calls a function whose
        trigger is: those nodes are the only ones looked at."""
        out = {k for k, lines in hooks.items() if not added.isdisjoint(lines)}
        hot_funcs = set()
        for k in imported:
            t = self.get(k)
            if t is not None and read_on(t, added):
                hot_funcs.add(k.rsplit(".", 1)[-1])
        # Round one first. Round two gives a function an added line's trigger only
        # through a call to a function whose round one does (so one of these).
        pending = set(armed)
        while pending:
            grown = False
            for fn in list(pending):
                t = self.returns.one(fn)
                if t is None and self.returns.calls(fn).isdisjoint(hot_funcs):
                    continue
                pending.discard(fn)
                t = t if t is not None else self.returns.two(fn)
                if t is None or not read_on(t, added):
                    continue
                t = self.get(fn.name)  # the first function of that name gives it
                if t is not None and read_on(t, added) and fn.name not in hot_funcs:
                    hot_funcs.add(fn.name)
                    grown = True
            if not grown:
                break
        out |= hot_funcs
        lines = sorted(added)
        todo = {i for i, v in enumerate(self.binds.values) if _holds(v, lines)}
        spelled: list[tuple[int, set[str]]] | None = None
        # A path constant spelled on an added line arms every probe of it.
        names = {n for n, p in self.paths.items() if not added.isdisjoint(p.lines)}
        done: set[int] = set()
        while True:
            for i in todo - done:
                for n in self.binds.targets[i]:
                    t = self.env.names.get(n)
                    if t is not None and read_on(t, added):
                        names.add(n)
            done |= todo
            reach = names | hot_funcs
            if not reach:
                break
            if spelled is None:
                alias = self.env.alias
                spelled = [
                    (i, expand(tokens(*_lines(v)), alias)) for i, v in enumerate(self.binds.values)
                ]
            todo = {i for i, toks in spelled if i not in done and not reach.isdisjoint(toks)}
            if not todo:
                break
        return out | names


class _Writers:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def get(self, key: str, /) -> Writes | None:
        local = self.facts.local_writes(key)
        if local is not None:
            return self.facts.filename, local
        return self.facts.far(key)[1]


def _lines(node: ast.AST) -> tuple[int, int]:
    first = getattr(node, "lineno", 0)
    return first, getattr(node, "end_lineno", None) or first


def _holds(node: ast.AST, added: list[int]) -> bool:
    """Whether an added line (sorted) lies within the node's lines."""
    first, last = _lines(node)
    i = bisect.bisect_left(added, first)
    return i < len(added) and added[i] <= last


def facts(
    tree: ast.Module,
    filename: str,
    alias: dict[str, str],
    lookup: Lookup | None,
    scope: list[ast.AST],
    store: Store | None = None,
) -> Facts:
    """What the module binds before any function is walked, computed on demand."""
    return Facts(tree, filename, alias, lookup, scope, store)


def module_binders(tree: ast.Module, scope: list[ast.AST]) -> list[ast.AST]:
    """``scope`` (``walk_local(tree.body)``) less what a top-level function binds
    for itself. The walk enters each top-level ``def`` (a statement's nodes are one
    run, led by the statement), but a name a function binds without ``global`` is
    its local at run time, read by no other function: ``host = socket.gethostname()``
    in one made another function's own ``host`` a trigger. A function's locals are
    bound by its own walk (``bind_local``), so its closures still see them. A
    function declaring any ``global`` keeps all its bindings: the global may be
    bound from its locals (``part = os.environ[...]; tier = part``), which the
    replay must see too (its other locals leak, as before, in such a function only)."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef)
    if not any(isinstance(st, defs) for st in tree.body):
        return scope
    tops = {id(st): isinstance(st, defs) for st in tree.body}
    runs: list[tuple[bool, list[ast.AST]]] = []  # (a def's without `global`?, its nodes)
    for n in scope:
        top = tops.get(id(n))
        if top is not None:
            runs.append((top, []))
        elif isinstance(n, ast.Global):  # the def's own: nested definitions are not walked
            runs[-1] = (False, runs[-1][1])
        runs[-1][1].append(n)
    return [n for local, nodes in runs if not local for n in nodes]


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


# Helper facts by text and name, for the run: each computed (or read from the store)
# once, not once per importing file (issue #17).
_KNOWN: PerText[HelperFacts | None] = PerText()


def _known(path: str, text: str, name: str, store: Store | None) -> HelperFacts | None:
    """``Helper.facts(name)`` of this text; None when it cannot define ``name`` or
    does not parse."""
    memo = _KNOWN.of(text)
    if name in memo:
        return memo[name]
    got = None
    if _may_define(text, name):
        got = store.get(text, name) if store is not None else None
        if got is None:
            writes = _QUIET.get(text)
            helper = helper_facts(path, text) if writes is None else None
            if writes is not None:  # no trigger in it: not parsed again (issue #17)
                got = (None, writes.get(name))
            elif helper is not None:
                got = helper.facts(name)
                if helper.quiet:
                    if len(_QUIET) >= 1024:  # as PerText: the oldest text goes first
                        del _QUIET[next(iter(_QUIET))]
                    _QUIET[text] = pl.random_writers(helper.tree, helper.env.alias)
            if got is not None:
                STATS["computed"] += 1
                if store is not None:
                    store.put(text, name, got)
    memo[name] = got
    return got


# Helper texts no trigger can be read in (``Helper.quiet``), with what each of their
# functions writes noise into: a helper evicted from ``helper_facts``'s few is not
# parsed again for another name (a scan asks ~600 texts in no order, issue #17).
_QUIET: dict[str, dict[str, dict[int, str]]] = {}


def _key(mod: str, name: str) -> str:
    """An imported function as qualname() spells its call: through the import's alias."""
    return f"{mod}.{name}" if mod else name


def _may_define(text: str, name: str) -> bool:
    """Whether a module can define a function ``name`` (both facts are about one):
    a re-export (``from .x import name``) or a class is not parsed for nothing."""
    return name in _defined(text)


# `def`, then the name: a run of anything but ASCII punctuation and whitespace
# (cut._TOKEN), so the whole name, however it is spelled, is what is compared.
_DEF = re.compile(r"\bdef(?:[ \t\f]|\\\r?\n|\\\r)+([^\s!-/:-@\[-^`{-~]+)")


# A scan asks it of ~400 helper texts, in no order (issue #17): 64 were evicted
# and searched again; the run's lookup holds the texts anyway.
@functools.lru_cache(maxsize=1024)
def _defined(text: str) -> frozenset[str]:
    """``_DEF.findall`` of the text as read (identifiers are NFKC-normalised), found
    from its literal ``def`` (issue #17: a pattern opening with ``\\b`` is tried at
    every position, 1.2% of a scan): each ``def`` and its blanks, then the name in a
    lookahead, kept where ``\\b`` holds before it and past the last name kept, as the
    scan of ``findall`` resumes there. No ``def`` match overlaps another's start."""
    read = as_read(text)
    word, out, done = _WORD.match, set(), 0
    for m in _DEF_AT.finditer(read):
        at = m.start()
        if at >= done and not (at and word(read, at - 1)):
            out.add(m.group(1))
            done = m.end(1)
    return frozenset(out)


_DEF_AT = re.compile(r"def(?:[ \t\f]|\\\r?\n|\\\r)+(?=([^\s!-/:-@\[-^`{-~]+))")
_WORD = re.compile(r"\w")


class Helper:
    """An imported module, parsed once; each imported name's facts computed on demand
    (a helper of thousands of lines is read for the two names a file imports)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        # Walked on first use too (issue #17: ~a tenth of a helper's parse, for the
        # names and paths a quiet helper never looks up).
        nodes = _Nodes(tree)
        self.env = Env(aliases(tree))
        # Both made on first use (issue #17): a helper no trigger is read in
        # (``quiet``) looks up no name and probes no path.
        self.env.paths = Lazy(functools.partial(_paths, tree, self.env.alias, nodes))
        # Not bound to ``self``: a helper evicted from the cache is freed at once (no cycle).
        names = self.env.names
        names.resolve = functools.partial(
            _one_round, _Binds(nodes), self.env.alias, self.env.paths, names.memo
        )
        self.returns = Returns(functions(tree), self.env)
        self.memo: dict[str, tuple[Trigger | None, dict[int, str] | None]] = {}
        # No node of the module is a trigger by itself (``quiet``'s tests, on every
        # node): a helper's triggers all start at one (its functions and module names
        # read only its own nodes, one level, analysis._whole), so none returns one.
        self.quiet = not nd.any_direct(tree, self.env.alias)

    def facts(self, name: str) -> tuple[Trigger | None, dict[int, str] | None]:
        """Whether ``name()`` returns a trigger, and which arguments it fills with noise."""
        if name not in self.memo:
            writes = pl.random_writers(self.tree, self.env.alias, {name})
            t = None if self.quiet else self.returns.get(name)
            self.memo[name] = (t, writes.get(name))
        return self.memo[name]


class _Nodes:
    """``walk_local(tree.body)`` of a helper, walked on the first call."""

    __slots__ = ("_got", "_tree")

    def __init__(self, tree: ast.Module) -> None:
        self._tree = tree
        self._got: list[ast.AST] | None = None

    def __call__(self) -> list[ast.AST]:
        if self._got is None:
            self._got = pl.walk_local(self._tree.body)
        return self._got


def _paths(tree: ast.Module, alias: Mapping[str, str], nodes: _Nodes) -> Paths:
    return module_paths(tree, alias, nodes())


class _Binds:
    """A helper's ``Bindings``, made on the first name looked up."""

    __slots__ = ("_got", "_nodes")

    def __init__(self, nodes: _Nodes) -> None:
        self._nodes = nodes
        self._got: Bindings | None = None

    def get(self) -> Bindings:
        if self._got is None:
            self._got = Bindings(self._nodes())
        return self._got


def _one_round(
    lazy: _Binds,
    alias: Mapping[str, str],
    paths: Paths,
    memo: dict[str, Trigger | None],
    name: str,
) -> Trigger | None:
    """A helper's module name: ``bind`` once, no function known."""
    binds = lazy.get()
    names, idx = binds.closure([name])
    env = Env(alias)
    env.paths = paths
    binds.run(env, idx)
    for n in names:
        memo.setdefault(n, env.names.own.get(n))
    return env.names.own.get(name)


# The helper texts' length whose trees are kept beyond the 16 (lru.py). A parsed helper
# holds 20-30 times its text (tracemalloc), and 16 trees held up to 1.2 MB of text in a
# corpus scan: 1 MB keeps the peak where it was. There: 479 parses for 418 texts, not
# 513; 2 MB gave 446, for ~40 MB more at the peak.
HELPER_TEXT = 1 << 20


def _helper(path: str, text: str) -> Helper | None:
    try:
        return Helper(parse(text, path))
    except (SyntaxError, ValueError, RecursionError):
        return None


class _Helpers(ByLength["Helper | None"]):
    def __call__(self, path: str, text: str) -> Helper | None:
        return self.get((path, text), len(text), functools.partial(_helper, path, text))


# An imported module, cached: many changed files import the same helper. A helper's
# tree can be ten times its text: the texts held are bounded by their length (issue
# #17: 16 trees were too few, lru.py), and the check's run clears them when it ends
# (release()), so a scan's peak stays bounded.
helper_facts = _Helpers(budget=HELPER_TEXT, least=16)


def release() -> None:
    """Drop the helpers' trees and texts this process holds (end of a run)."""
    helper_facts.cache_clear()
    _defined.cache_clear()
    _KNOWN.clear()
    _QUIET.clear()


def parse(source: str, filename: str) -> ast.Module:
    """``pyast.parse``, which pauses the cyclic collector while the tree is built
    (a quarter of this check's time on 200 large files went to collections,
    issue #17)."""
    return pyast.parse(source, filename)
