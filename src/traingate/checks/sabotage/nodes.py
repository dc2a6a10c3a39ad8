"""Walks the check repeats, made once (issue #17).

``ast.walk`` and ``ast.iter_child_nodes`` are generators over ``iter_fields``:
a full scan spent a fifth of the check in them. ``children`` reads ``_fields``
straight; ``local`` indexes a function's body once (its nodes, what ``warm``
looks up, what ``bind`` binds) and keeps the index on the definition, so the
class replay, the returns rounds and the walk share it."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

_AST, _LIST = ast.AST, list
# Fields that never hold a node: a name's identifier, a constant's value. And
# ``ctx`` (Load, Store, Del) and operators (``op``, ``ops``): leaves no analysis
# walks to (each reads ``node.op``), a third of the nodes a walk would visit.
_SCALAR = {
    ast.Name: ("id",),
    ast.Attribute: ("attr",),
    ast.Constant: ("value", "kind"),
    ast.keyword: ("arg",),
    ast.arg: ("arg",),
    ast.alias: ("name", "asname"),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type that can hold a node (or a list of them)."""
    got = _FIELDS.get(kind)
    if got is None:
        skip = {"ctx", "op", "ops", "type_comment", *_SCALAR.get(kind, ())}
        got = _FIELDS[kind] = tuple(f for f in getattr(kind, "_fields", ()) if f not in skip)
    return got


# The list fields that may hold what is not a node: ``None`` in a dict's keys
# (``**d``) and for a keyword-only argument without a default, identifiers. Every other list of a parsed tree holds only nodes.
_DIRTY = {
    (ast.Dict, "keys"),
    (ast.arguments, "kw_defaults"),
    (ast.Global, "names"),
    (ast.Nonlocal, "names"),
    (ast.MatchClass, "kwd_attrs"),
}
_KIDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _kids(kind: type) -> tuple[tuple[str, bool], ...]:
    """``fields(kind)``, each with whether a list in it must be filtered."""
    got = _KIDS[kind] = tuple((f, (kind, f) in _DIRTY) for f in fields(kind))
    return got


def children(node: ast.AST) -> list[ast.AST]:
    """``ast.iter_child_nodes(node)`` as a list, in its order, without ``ctx``. A
    clean list is copied whole, not filtered node by node (issue #17: the filter's
    generator was most of the walk's time)."""
    out: list[ast.AST] = []
    kind = type(node)
    got = _KIDS.get(kind)
    for field, dirty in _kids(kind) if got is None else got:
        value = getattr(node, field, None)
        if value.__class__ is _LIST:
            if dirty:
                out.extend(v for v in value if isinstance(v, _AST))
            else:
                out.extend(value)
        elif isinstance(value, _AST):
            out.append(value)
    return out


_BLOCK = (ast.stmt, ast.ExceptHandler, ast.match_case)


def blocks(node: ast.AST) -> list[ast.AST]:
    """The statements, handlers and match cases right under a node, in
    ``iter_child_nodes``' order: each sits only in a list of its own kind."""
    out: list[ast.AST] = []
    got = _FIELDS.get(type(node))
    for field in fields(type(node)) if got is None else got:
        value = getattr(node, field, None)
        if isinstance(value, _LIST) and value and isinstance(value[0], _BLOCK):
            out.extend(value)
    return out


# Node type -> the fields a walk enters, or None: a type it does not enter. A walk
# pushes every value of a field and skips on pop what is not a node (None, an
# identifier) or, for walk_local, a nested definition: the order of the rest is
# the one filtering before the push gave, without a generator per list (issue #17).
_ALL: dict[type, tuple[str, ...] | None] = {}
_MISS: Any = object()
_LOCAL: dict[type, tuple[str, ...] | None] = {}
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _plan(kind: type, table: dict[type, tuple[str, ...] | None]) -> tuple[str, ...] | None:
    node = issubclass(kind, _AST) and not (table is _LOCAL and issubclass(kind, _NESTED))
    got = table[kind] = fields(kind) if node else None
    return got


def walk_all(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of the tree but ``ctx``, as ``ast.walk`` finds them (not in its order)."""
    todo: list[Any] = [tree]
    get, table, pop, push, extend = _ALL.get, _ALL, todo.pop, todo.append, todo.extend
    while todo:
        node = pop()
        kind = node.__class__
        fs = get(kind, _MISS)
        if fs is _MISS:
            fs = _plan(kind, table)
        if fs is None:
            continue
        yield node
        for field in fs:
            value = getattr(node, field, None)
            if value.__class__ is _LIST:
                extend(value)
            elif value is not None:
                push(value)


def calls_and_strings(tree: ast.AST) -> list[ast.AST]:
    """The calls and string constants among ``walk_all(tree)``'s nodes, in its order:
    all the log egress reads, collected in the walk (issue #17: most of a tree is
    names and constants, each resumed a generator and failed two isinstance)."""
    out: list[ast.AST] = []
    todo: list[Any] = [tree]
    get, table, pop, push, extend, add = (
        _ALL.get,
        _ALL,
        todo.pop,
        todo.append,
        todo.extend,
        out.append,
    )
    call, const, text = ast.Call, ast.Constant, str
    while todo:
        node = pop()
        kind = node.__class__
        if kind is const:
            if node.value.__class__ is text:
                add(node)
            continue  # no field of a constant holds a node
        fs = get(kind, _MISS)
        if fs is _MISS:
            fs = _plan(kind, table)
        if fs is None:
            continue
        if kind is call:
            add(node)
        for field in fs:
            value = getattr(node, field, None)
            if value.__class__ is _LIST:
                extend(value)
            elif value is not None:
                push(value)
    return out


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Whole(NamedTuple):
    """What a scan reads of the whole tree beside its functions' bodies (``whole``)."""

    egress: list[ast.AST]  # ``calls_and_strings(tree)``'s nodes (not in its order)
    direct: bool  # a node of the tree is a trigger by itself (``quiet``'s tests)
    calls: set[str]  # the qualnames of its calls (``Env.funcs`` keys)


def whole(tree: ast.Module, alias: Mapping[str, str]) -> Whole:
    """Every call and string of the tree, whether any node is ``direct``, and every
    call's qualname, without walking a function's body again: its index (``local``,
    which a scan makes for every function anyway) holds those (issue #17: the
    egress walk alone was 4-5% of a scan).

    Every node is read once or more: this walk enters everything but a function's
    body, whose index's nodes are taken instead, and the nested definitions, classes
    and lambdas that index's walk did not enter are walked from here (a definition's
    decorators, arguments and annotations, a class's bases and body, a lambda)."""
    from traingate.checks.sabotage import payloads as pl
    from traingate.checks.sabotage import quiet as qt
    from traingate.checks.sabotage import triggers as tr

    out: list[ast.AST] = []
    calls: set[str] = set()
    direct = False
    todo: list[Any] = [tree]
    get, table, pop, push, extend, add, more = (
        _ALL.get,
        _ALL,
        todo.pop,
        todo.append,
        todo.extend,
        out.append,
        out.extend,
    )
    call, const, text, defs = ast.Call, ast.Constant, str, _DEFS
    name_t, attr_t, cmp_t = ast.Name, ast.Attribute, ast.Compare
    # ``qt.name_direct`` and the others, inlined as in ``index`` (issue #17)
    named, alias_get, add_call = qt._named, alias.get, calls.add
    probes, registrars, sources = tr._PROBE_NAMES, pl.HOOK_REGISTRARS, tr.SOURCE_ATTRS
    source_names, called_q, qualname = tr.SOURCE_NAMES, tr._CALLS, tr.qualname
    while todo:
        node = pop()
        kind = node.__class__
        if kind is name_t:  # no field of a name holds a node
            if not direct:
                key = node.id
                direct = named(key) or alias_get(key) in source_names
            continue
        if kind is const:
            if node.value.__class__ is text:
                add(node)
            continue  # no field of a constant holds a node
        fs = get(kind, _MISS)
        if fs is _MISS:
            fs = _plan(kind, table)
        if fs is None:
            continue
        if kind is call:
            add(node)
            f = node.func
            ft = f.__class__
            if ft is name_t:
                fid: str = f.id
                last: str | None = fid
                q: str | None = alias_get(fid, fid)
            elif ft is attr_t:
                last = f.attr
                q = qualname(f, alias)
            else:
                last = q = None
            if q is not None:
                add_call(q)
            direct = direct or q in called_q or last in probes or last in registrars
        elif kind is attr_t:
            direct = direct or node.attr in sources or named(node.attr)
        elif kind is cmp_t:
            direct = direct or qt.compare_direct(node)
        elif kind in defs:
            lk = local(node, alias)
            more(lk.egress)
            extend(lk.nested)
            direct = direct or lk.direct
            calls.update(lk.calls)
            extend(node.decorator_list)
            push(node.args)
            if node.returns is not None:
                push(node.returns)
            continue
        for field in fs:
            value = getattr(node, field, None)
            if value.__class__ is _LIST:
                extend(value)
            elif value is not None:
                push(value)
    return Whole(out, direct, calls)


def any_direct(tree: ast.AST, alias: Mapping[str, str]) -> bool:
    """Whether a node of the tree (``walk_all``: lambdas and nested definitions too)
    is a trigger by itself, as ``index`` tests one (``quiet``)."""
    from traingate.checks.sabotage import quiet as qt
    from traingate.checks.sabotage.triggers import qualname

    name_t, call_t, attr_t, cmp_t = ast.Name, ast.Call, ast.Attribute, ast.Compare
    for n in walk_all(tree):
        t = n.__class__
        if t is name_t:
            if qt.name_direct(n.id, alias):  # type: ignore[attr-defined]
                return True
        elif t is call_t:
            if qt.call_direct(n, qualname(n.func, alias)):  # type: ignore[arg-type,attr-defined]
                return True
        elif t is attr_t:
            if qt.attr_direct(n.attr):  # type: ignore[attr-defined]
                return True
        elif t is cmp_t and qt.compare_direct(n):  # type: ignore[arg-type]
            return True
    return False


def walk_local(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of these statements but ``ctx``, not entering nested functions,
    lambdas or classes, in ``payloads.walk_local``'s order (which calls this). A
    statement of ``body`` itself is entered whatever it is (a ``def`` in it too)."""
    out: list[ast.AST] = []
    todo: list[Any] = []
    get, table, pop, push, extend = _LOCAL.get, _LOCAL, todo.pop, todo.append, todo.extend
    add = out.append
    for top in reversed(body):
        todo.append(top)
        first = True
        while todo:
            node = pop()
            kind = node.__class__
            if first:  # the statement itself, a nested definition too
                fs: tuple[str, ...] | None = fields(kind)
                first = False
            else:
                fs = get(kind, _MISS)
                if fs is _MISS:
                    fs = _plan(kind, table)
            if fs is None:
                continue
            add(node)
            for field in fs:
                value = getattr(node, field, None)
                if value.__class__ is _LIST:
                    extend(value)
                elif value is not None:
                    push(value)
    return out


def shallow(body: list[ast.stmt], limit: int) -> bool:
    """Whether no node ``walk_local(body)`` reaches lies more than ``limit`` levels
    down (a statement of ``body`` is level 1): a level at a time, with the walk's
    table (a definition in ``body`` is entered, as there, deeper ones are not)."""
    level: list[Any] = []
    for st in body:
        for field in fields(st.__class__):
            value = getattr(st, field, None)
            if value.__class__ is _LIST:
                level.extend(value)
            elif value is not None:
                level.append(value)
    depth = 1 if body else 0
    if depth > limit:
        return False
    get, table = _LOCAL.get, _LOCAL
    while level:
        below: list[Any] = []
        extend, push = below.extend, below.append
        entered = False
        for node in level:
            kind = node.__class__
            fs = get(kind, _MISS)
            if fs is _MISS:
                fs = _plan(kind, table)
            if fs is None:
                continue
            entered = True
            for field in fs:
                value = getattr(node, field, None)
                if value.__class__ is _LIST:
                    extend(value)
                elif value is not None:
                    push(value)
        if entered:
            depth += 1
            if depth > limit:
                return False
        level = below
    return True


# Node type -> its fields that can hold a list of statements, handlers or match
# cases, in ``_fields``' order: ``statements`` read every field of every statement
# (a call's arguments, a target's subscript) for the few that hold a block (issue #17).
_HOLDS: dict[type, tuple[str, ...]] = {}
_BLOCK_FIELDS = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def _holds(kind: type) -> tuple[str, ...]:
    got = _HOLDS[kind] = tuple(f for f in getattr(kind, "_fields", ()) if f in _BLOCK_FIELDS)
    return got


def statements(tree: ast.Module) -> list[ast.AST]:
    """``triggers.stmt_walk(tree)`` but the module itself: every statement, handler
    and match case, in its order; walked once per tree (aliases, functions, returns,
    draws and constants each read them) and kept on it. The module is left out: a
    list holding it, kept on it, would be a cycle (``test_sabotage_gc``)."""
    got = tree.__dict__.get("_traingate_statements")
    if isinstance(got, list):
        return got
    out: list[ast.AST] = []
    todo: deque[ast.AST] = deque([tree])
    get = _HOLDS.get
    while todo:
        node = todo.popleft()
        kind = node.__class__
        fs = get(kind)
        for field in _holds(kind) if fs is None else fs:
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], _BLOCK):
                todo.extend(value)
        out.append(node)
    del out[0]
    tree.__dict__["_traingate_statements"] = out
    return out


# What ``warm`` looks up, in node order: a name, a call's qualname, a ``self`` attribute.
NAME, CALL, ATTR = 0, 1, 2


class Binds:
    """What ``bind`` reads in a body: (value, target names) of each binding node, in
    order; made from those nodes on the first read (issue #17: most bodies are never
    bound, those of a file reading no trigger, ``analysis._whole``)."""

    __slots__ = ("_got", "_nodes")

    def __init__(self, nodes: list[ast.AST]) -> None:
        self._nodes: list[ast.AST] | None = nodes
        self._got: list[tuple[ast.AST, list[str]]] = []

    def __iter__(self) -> Iterator[tuple[ast.AST, list[str]]]:
        if self._nodes is not None:
            from traingate.checks.sabotage import payloads as pl
            from traingate.checks.sabotage.scopes import binding, target_names

            for n in self._nodes:
                value, targets = binding(n)
                if value is not None:
                    names = [x for x in target_names(targets) if not pl.named_state(x)]
                    self._got.append((value, names))
            self._nodes = None
        return iter(self._got)


class Local(NamedTuple):
    nodes: list[ast.AST]  # walk_local(body)
    lookups: list[tuple[int, str]]  # (NAME | CALL | ATTR, key), as warm meets them
    binds: Binds  # what bind reads: (value, target names)
    direct: bool  # a node is a trigger whatever the lookups answer (``quiet.direct``)
    # The calls and string constants among ``nodes`` (all the log egress reads), and
    # the nested definitions, classes and lambdas the walk did not enter (``egress``).
    egress: list[ast.AST]
    nested: list[ast.AST]
    # What the skip tests read (``quiet.skip``), recorded in the same pass so a test
    # that cannot fire returns without walking ``nodes`` again (issue #17): the last
    # name of every call (``last_name(call.func)``), every call's qualname once, in
    # the lookups' order (a dict as an ordered set), and the ``Assign`` nodes.
    called: set[str]
    calls: dict[str, None]
    assigns: list[ast.AST]


Def = ast.FunctionDef | ast.AsyncFunctionDef


def local(fn: Def, alias: Mapping[str, str]) -> Local:
    """The index of ``fn``'s body (not its nested definitions), made once per tree
    and alias table: kept on the definition, freed with the tree."""
    got = fn.__dict__.get("_traingate_local")
    if got is not None and got[0] is alias and isinstance(got[1], Local):
        return got[1]
    made = index(fn.body, alias)
    fn.__dict__["_traingate_local"] = (alias, made)
    return made


def body_nodes(fn: Def) -> list[ast.AST]:
    """``walk_local(fn.body)``: the nodes of ``fn``'s index when one was made (issue
    #17: a scan indexes every function, ``whole``, and five readers walked the same
    body again). The index's nodes are ``walk_local``'s, in its order, whatever the
    alias table; a reader only iterates them."""
    got = fn.__dict__.get("_traingate_local")
    if got is not None and isinstance(got[1], Local):
        return got[1].nodes
    return walk_local(fn.body)


# The nodes ``scopes.binding`` reads a value from (the others: most of a body).
_BINDERS = frozenset(
    {ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.comprehension}
    | {ast.withitem}
)


def index(body: list[ast.stmt], alias: Mapping[str, str]) -> Local:
    """``walk_local(body)`` and what ``warm`` looks up, ``bind`` binds and ``quiet``
    tests in it, in one pass (issue #17: the walk, then a loop over its nodes, were
    a tenth of a scan): each node is indexed as the walk adds it, so the nodes,
    lookups and binds come in ``walk_local``'s order.

    A scan's costliest Python after the parse (#17): names and constants skip the
    fields loop, the ``quiet`` tests and a plain name's qualname are inlined, and a
    definition in ``body`` is entered before the loop (no first-statement flag)."""
    from traingate.checks.sabotage import payloads as pl
    from traingate.checks.sabotage import quiet as qt
    from traingate.checks.sabotage import triggers as tr

    out: list[ast.AST] = []
    lookups: list[tuple[int, str]] = []
    binds: list[ast.AST] = []
    egress: list[ast.AST] = []
    nested: list[ast.AST] = []
    called: set[str] = set()
    calls: dict[str, None] = {}
    assigns: list[ast.AST] = []
    direct = False
    todo: list[Any] = []
    get, table, pop, push, extend = _LOCAL.get, _LOCAL, todo.pop, todo.append, todo.extend
    add, look, shipped = out.append, lookups.append, egress.append
    name_t, call_t, attr_t = ast.Name, ast.Call, ast.Attribute
    cmp_t, const_t, text_t, binders = ast.Compare, ast.Constant, str, _BINDERS
    assign_t, call_add, nested_t = ast.Assign, called.add, _NESTED
    named, named_get, alias_get = qt._named, qt._NAMED.get, alias.get
    probes, registrars, sources = tr._PROBE_NAMES, pl.HOOK_REGISTRARS, tr.SOURCE_ATTRS
    source_names, called_q, qualname = tr.SOURCE_NAMES, tr._CALLS, tr.qualname
    for top in reversed(body):
        kind = top.__class__
        if kind in nested_t:  # the statement itself, a nested definition too
            add(top)  # (no test below reads a definition)
            for field in fields(kind):
                value = getattr(top, field, None)
                if value.__class__ is _LIST:
                    extend(value)
                elif value is not None:
                    push(value)
        else:
            push(top)
        while todo:
            n = pop()
            t = n.__class__
            if t is name_t:  # ``qt.name_direct`` (a name's test is cached there)
                add(n)
                key = n.id
                look((NAME, key))
                if not direct:
                    hit = named_get(key)
                    direct = (named(key) if hit is None else hit) or alias_get(key) in source_names
                continue
            if t is const_t:  # no field of a constant holds a node
                add(n)
                if n.value.__class__ is text_t:
                    shipped(n)
                continue
            fs = get(t, _MISS)
            if fs is _MISS:
                fs = _plan(t, table)
            if fs is None:
                if t in nested_t:
                    nested.append(n)
                continue
            add(n)
            for field in fs:
                value = getattr(n, field, None)
                if value.__class__ is _LIST:
                    extend(value)
                elif value is not None:
                    push(value)
            if t is call_t:
                shipped(n)
                f = n.func
                ft = f.__class__
                if ft is name_t:
                    fid: str = f.id
                    last: str | None = fid
                    q: str | None = alias_get(fid, fid)
                elif ft is attr_t:
                    last = f.attr
                    q = qualname(f, alias)
                else:
                    last = q = None
                if last is not None:
                    call_add(last)
                if q is not None:
                    look((CALL, q))
                    calls[q] = None
                # ``qt.call_direct``
                direct = direct or q in called_q or last in probes or last in registrars
            elif t is attr_t:
                attr = n.attr
                v = n.value
                if v.__class__ is name_t and v.id == "self":
                    look((ATTR, attr))
                if not direct:  # ``qt.attr_direct``
                    hit = named_get(attr)
                    direct = attr in sources or (named(attr) if hit is None else hit)
            elif t is cmp_t:
                direct = direct or qt.compare_direct(n)
            elif t in binders:
                binds.append(n)
                if t is assign_t:
                    assigns.append(n)
    return Local(out, lookups, Binds(binds), direct, egress, nested, called, calls, assigns)
