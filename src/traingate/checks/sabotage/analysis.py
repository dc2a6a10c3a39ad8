"""Per-function analysis: a payload under a guard that tests a trigger.

``analyze(source)`` parses one file (never imports it) and returns every hit,
each with the lines it rests on (the payload, the guard, where the trigger was
read), so the check can keep only those the change touched.

What is judged, and how narrowly (issue #16 asks for catches, and for silence
on real code, where rank guards are everywhere):

- host, user, date, GPU model, scheduler partition, any environment variable
  (``STRONG``): a guarded payload of any kind, or a payload whose value is
  derived from one, is reported;
- rank (``if rank == 0``): a guarded write, collective, exit or skipped step
  in the training path (a step hook, a function that calls backward or an
  optimizer step, a gradient hook); elsewhere a write to gradients,
  parameters or optimizer state, and a collective without a partner in the
  other rank branch: rank-0 saving, logging and the "main process first"
  barriers of data preparation stay quiet;
- world size: against a literal of 8 or more (``world_size >= 64``), or over a
  write in the training path that does not divide by the size, so
  ``if world_size > 1: dist.barrier()`` and ``p.grad.div_(world_size)`` stay quiet;
- a step counter against a literal of 100 or more: only for scaling the loss,
  gradients or parameters (``if step > 5000: loss *= 0.1``), not the
  learning rate (step schedules are ordinary).
"""

from __future__ import annotations

import ast
import gc
import re
from collections.abc import Callable, Mapping, Set
from typing import Any

from traingate.checks.sabotage import events as ev
from traingate.checks.sabotage import hookfns
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage import quiet as qt
from traingate.checks.sabotage.constants import local_paths, param_defaults
from traingate.checks.sabotage.cut import Plan, expand, span
from traingate.checks.sabotage.draws import Drawing
from traingate.checks.sabotage.outline import as_read
from traingate.checks.sabotage.returns import Imported, Returns, imported
from traingate.checks.sabotage.scopes import ClassAttrs, bind_local, warm, warm_local
from traingate.checks.sabotage.store import Store
from traingate.checks.sabotage.triggers import Env, Trigger, aliases
from traingate.checks.sabotage.walker import Fn, Hit


def analyze(
    source: str,
    filename: str = "<file>",
    lookup: mod.Lookup | None = None,
    added: Set[int] | None = None,
    store: Store | None = None,
) -> list[Hit]:
    """Every hit of the file; with ``added`` (the change's added lines), every hit
    that can rest on one of them, walking only the units that can (see ``cut``).
    ``store``: imported helpers' facts cached across runs.

    The cyclic collector is paused meanwhile (issue #17): the analysis makes no
    cycle (``test_sabotage_gc``), so reference counting frees all it made, and
    a collection would only traverse the file's tree (1.2-1.7 of 4.5-5.8 CPU s
    of the check on the 200-file change). A cycle made anyway is still
    collected once the collector runs again: what it made still counts."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _paused(source, filename, lookup, added, store)
    finally:
        if was:
            gc.enable()


def _paused(
    source: str,
    filename: str,
    lookup: mod.Lookup | None,
    added: Set[int] | None,
    store: Store | None,
) -> list[Hit]:
    tree = mod.parse(source, filename)
    alias = aliases(tree)
    hooks = hookfns.hook_functions(tree, source)
    scope = pl.walk_local(tree.body)  # what the module's names are bound from
    plan = None if added is None else Plan(tree, source, added)
    if plan is not None and (not plan.usable or mod.module_collective(tree, alias)):
        plan = None  # a module-level collective's partner may be anywhere in the file
    facts = mod.facts(tree, filename, alias, lookup, scope, store)
    funcs = None
    # from .utils import _FLIP (returns.py): looked up for the names the cut can use
    wanted, stmts = (None, []) if plan is None else _spelled(plan, tree)
    held = imported(tree, lookup, wanted)
    # from .utils import keep (session 12): only for a name those statements call
    calls = None if plan is None else _caller(plan, stmts, tree)
    far = Imported(tree, lookup, wanted, store, calls)
    draws = ev.may_draw(source)
    if draws or held or far.names:  # draws held for the run, events (events.py)
        funcs = Returns(tree, source, scope, held, far, draws)  # and functions returning one
        facts.env.events = ev.module_table(tree, alias, scope, funcs, held)
    try:
        return _analyze(tree, alias, hooks, scope, plan, facts, _whole(tree, alias, plan, facts))
    finally:
        if funcs is not None:
            funcs.module = None  # it and the module's table hold each other
        facts.close()  # the tree is freed here, not by a full collection (issue #17)


def _analyze(
    tree: ast.Module,
    alias: dict[str, str],
    hooks: dict[str, tuple[int, ...]],
    scope: list[ast.AST],
    plan: Plan | None,
    facts: mod.Facts,
    whole: tuple[nd.Whole, bool] | None,
) -> list[Hit]:
    module, writers = facts.env, facts.writers
    module.drawing = Drawing(tree, alias)
    hot: set[str] = set()
    quiet = whole is not None and whole[1]
    if plan is None:
        kept = set(range(len(tree.body)))
        if not quiet:
            facts.everything()  # every name is read: one replay, not one per name
    else:
        units = plan.units()
        kept = {i for i in units if plan.touched(tree.body[i])}
        imported = plan.imported()  # functions whose trigger is read on an added line
        armed: set[ast.FunctionDef | ast.AsyncFunctionDef] = set()
        # A module name drawn on an added line arms every unit that reads it.
        drawn = _drawn(module.events.own if module.events is not None else {}, plan.added)
        drawn |= set(_resting(module.events, plan.added, drawn))
        while True:  # to a fixed point: each round keeps more units or names
            armed |= plan.armed(kept, hot, alias)
            hot = facts.hot(hooks, plan.added, imported, armed, plan.span_tokens) | drawn
            grown = {
                i
                for i in units
                if i not in kept
                and hot
                and not hot.isdisjoint(expand(plan.tokens(tree.body[i]), alias))
            }
            kept |= grown
            if not grown and plan.armed(kept, hot, alias) <= armed:
                break
    out: list[Hit] = []
    top = [
        st
        for st in tree.body
        if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    if not quiet:
        warm(module, pl.walk_local(top))  # what the module-level walk looks up
    Fn(
        qt.quieted(module) if quiet else module,
        "<module>",
        tree.body,
        out,
        writers=writers,
        nodes=scope,
    ).run()
    for i in sorted(kept):
        st = tree.body[i]
        if plan is not None and isinstance(st, ast.ClassDef):
            _visit_class(st, module, out, hooks, writers, plan, hot)
        else:
            _visit_one(st, module, out, hooks, writers, quiet)
    out.extend(_egress(alias, plan, whole[0] if whole is not None else None))
    return sorted(set(out))


def _whole(
    tree: ast.Module, alias: dict[str, str], plan: Plan | None, facts: mod.Facts
) -> tuple[nd.Whole, bool] | None:
    """A scan's read of the whole tree (``nodes.whole``), and whether no trigger can be
    read anywhere in the file: no node of it is one by itself (``quiet.direct``) and no
    function it calls from another file returns one (``Facts.far``).

    Then every lookup a walk makes answers None (issue #17: the lookups, replays and
    bindings that found nothing were a third of a scan, in the ~3/4 of a library's
    files that read no trigger). A trigger starts at a node that is one by itself or
    at an imported function returning one; every other fact is derived from those:
    a module name, a ``self`` attribute or a name bound in a function from a value
    whose taint reads one, a function of the file returning one (its round one reads
    only its own nodes and module names, round two its callees' round one). So each
    function is quiet (quiet.py) without its lookups, the module's names need no
    replay, and the module-level walk is quiet too. The keys checked are every
    call's qualname in the file, so those of every call a taint can reach."""
    if plan is not None:
        return None
    got = nd.whole(tree, alias)
    if got.direct:
        return got, False
    imports = facts.imports
    return got, all(facts.far(k)[0] is None for k in sorted(got.calls) if k in imports)


def _visit_class(
    cls: ast.ClassDef,
    env: Env,
    out: list[Hit],
    hooks: dict[str, tuple[int, ...]],
    writers: mod.Writers,
    plan: Plan,
    hot: set[str],
) -> None:
    """A kept class, method by method: as for a unit, an untouched method's hits
    rest on added lines only through a hot identifier, or a ``self`` attribute
    whose trigger another method reads on an added line."""
    cenv = env.child()
    attrs = cenv.attrs = ClassAttrs(cls, env)
    cenv.attr_paths = attrs.paths
    if env.events is not None:
        cenv.event_attrs = ev.init_attrs(cls, env.events)
        hot = hot | _drawn(cenv.event_attrs, plan.added)  # self._p = random.random() added

    def walked(fn: ast.stmt, names: Set[str]) -> bool:
        return plan.touched(fn) or (
            bool(names) and not names.isdisjoint(expand(plan.tokens(fn), env.alias))
        )

    reach = attrs.reach(hot, plan.added, walked)
    for child in cls.body:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not walked(child, reach):
            continue
        _visit_one(child, cenv, out, hooks, writers)


def _visit(
    node: ast.AST,
    env: Env,
    out: list[Hit],
    hooks: dict[str, tuple[int, ...]],
    writers: mod.Writers,
    quiet: bool = False,
) -> None:
    for child in nd.blocks(node):
        if isinstance(child, ast.stmt):  # definitions are statements: no expression holds one
            _visit_one(child, env, out, hooks, writers, quiet)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            _visit(child, env, out, hooks, writers, quiet)


def _visit_one(
    child: ast.stmt,
    env: Env,
    out: list[Hit],
    hooks: dict[str, tuple[int, ...]],
    writers: mod.Writers,
    quiet: bool = False,  # no trigger in the file (``_whole``): no lookup finds one
) -> None:
    if isinstance(child, ast.ClassDef):
        cenv = env.child()
        # quiet: no attribute holds a trigger; each is still computed if looked up
        attrs = cenv.attrs = ClassAttrs(child, env, whole=not quiet)
        cenv.attr_paths = attrs.paths
        cenv.event_attrs = ev.init_attrs(child, env.events) if env.events is not None else {}
        _visit(child, cenv, out, hooks, writers, quiet)
    elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
        fenv = env.child()
        for a in child.args.posonlyargs + child.args.args + child.args.kwonlyargs:
            fenv.names.hide(a.arg)  # a parameter shadows a module name
        for arg, default in () if quiet else param_defaults(child.args):
            # A default is read once, where the function is defined: a hook's
            # `zone=os.environ.get("CLOUD_ZONE")` holds that trigger (#16, session 23).
            t = env.taint(default)
            if t is not None:
                fenv.names.own[arg] = t
        lk = nd.local(child, env.alias)
        nodes = lk.nodes
        fenv.paths = local_paths(child, nodes, env)
        reg = hooks.get(child.name)
        # No trigger can reach the body (quiet.py): nothing to bind, no taint to look
        # for, and outside a hook, in a small body without draws, maybe nothing to walk.
        wenv: Env | None = fenv
        if not quiet and (warm_local(fenv, lk) or lk.direct):
            bind_local(fenv, lk)
        elif qt.skip(lk, reg is not None, fenv, writers, child.body):
            wenv = None
        else:
            wenv = qt.quieted(fenv)  # nested definitions still see ``fenv``
        if wenv is not None:
            fn = Fn(
                wenv, child.name, child.body, out, reg is not None, _params(child), writers, nodes
            )
            fn.hook_lines = reg or ()
            fn.run()
        _visit(child, fenv, out, hooks, writers, quiet)
    elif child.__class__ in _COMPOUND:
        _visit(child, env, out, hooks, writers, quiet)


# The statements that hold a block (a definition may sit in one): ``_visit`` finds
# nothing under any other (issue #17: it was called for every statement of the file).
_COMPOUND: frozenset[type] = frozenset(
    {ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match}
    | {getattr(ast, n) for n in ("TryStar",) if hasattr(ast, n)}  # Python 3.11+
)


def _drawn(held: Mapping[str, Trigger], added: Set[int]) -> set[str]:
    """The names (or attributes) whose draw rests on an added line."""
    return {n for n, t in held.items() if not added.isdisjoint((t.line, *t.also))}


def _spelled(plan: Plan, tree: ast.Module) -> tuple[set[str], list[ast.stmt]]:
    """The identifiers of the top-level statements the change touched, and of the
    file's functions they spell, to a fixed point (``def _factor(): return keep()``
    with ``keep`` imported: the step calls it through ``_factor``); and those
    statements."""
    defs: dict[str, list[ast.stmt]] = {}
    for st in tree.body:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs.setdefault(st.name, []).append(st)
    out: set[str] = set()
    todo = [st for st in tree.body if plan.touched(st)]
    stmts = list(todo)
    seen = {id(st) for st in todo}
    while todo:
        new = plan.tokens(todo.pop()) - out
        out |= new
        for st in (d for n in new for d in defs.get(n, ())):
            if id(st) not in seen:
                seen.add(id(st))
                todo.append(st)
                stmts.append(st)
    return out, stmts


def _caller(plan: Plan, stmts: list[ast.stmt], tree: ast.Module) -> Callable[[str], bool]:
    """Whether these statements may call a name: the name, then spaces, line ends,
    comments or closing parentheses, then ``(`` (``keep()``, ``(keep)()``, ``self.keep
    (``): a superset of the calls the events follow, found in the text; for a name
    imported on an added line, anywhere in the file (the import arms every call).
    Asked only for a helper's function that may return a draw (issue #17)."""
    added = {
        a.asname or a.name
        for st in tree.body
        if isinstance(st, ast.ImportFrom) and plan.touched(st)
        for a in st.names
    }
    texts: dict[bool, str] = {}

    def text(whole: bool) -> str:
        if whole not in texts:
            lines = plan.lines or []
            if whole:
                texts[whole] = as_read("\n".join(lines))
            else:
                spans = (span(st) for st in stmts)
                texts[whole] = as_read("\n".join(x for a, b in spans for x in lines[a - 1 : b]))
        return texts[whole]

    found: dict[bool, set[str]] = {}

    def names(whole: bool) -> set[str]:
        # Every identifier followed by a call's "(", in one pass over the text
        # (one search per name cost 1.5 of the check's ~10 CPU s on 200 large
        # files): a name is in it exactly when the per-name pattern finds it.
        if whole not in found:
            found[whole] = set(_CALLED.findall(text(whole)))
        return found[whole]

    def called(name: str) -> bool:
        return name in names(False) or (name in added and name in names(True))

    return called


# The call's tail is a lookahead (a name inside another's tail, a comment, is read
# too) and possessive: a comment runs to its line's end, without the backtracking
# into it that took minutes on a file's rows of '#' (a "(" in a comment is no call).
_CALLED = re.compile(r"(?<!\w)([^\W\d]\w*)(?=(?:\s|\\|\)|#[^\n]*+)*+\()")


def _resting(table: ev.Table | None, added: Set[int], drawn: set[str]) -> dict[str, Trigger]:
    """The file's functions returning a draw or an event that rests on an added line
    (an added ``return`` arms every caller)."""
    funcs = table.funcs if table is not None else None
    return funcs.resting(added, drawn) if isinstance(funcs, Returns) else {}


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    return frozenset(a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg != "self")


def _egress(alias: dict[str, str], plan: Plan | None, whole: nd.Whole | None) -> list[Hit]:
    nodes = whole.egress if whole is not None else plan.touched_nodes() if plan else []
    out = []
    handlers, get = pl._EGRESS_HANDLERS, alias.get
    const_t, call_t, attr_t, name_t = ast.Constant, ast.Call, ast.Attribute, ast.Name
    node: Any
    for node in nodes:
        # log_egress names only a call or a "logging.handlers." string (issue #17:
        # a full walk of the file, most of it names and constants), and only a call
        # whose qualname ends in a handler's class: its attribute, or a name's import
        t = node.__class__
        if t is const_t:
            value = node.value
            if value.__class__ is not str or not value.startswith("logging.handlers."):
                continue
        elif t is call_t:
            f = node.func
            ft = f.__class__
            if ft is attr_t:
                if f.attr not in handlers:
                    continue
            elif ft is not name_t:
                continue
            else:
                q = get(f.id)
                if (f.id if q is None else q.rsplit(".", 1)[-1]) not in handlers:
                    continue
        else:
            continue
        what = pl.log_egress(node, alias)
        if what is not None:
            line = getattr(node, "lineno", 1)
            out.append(
                Hit(
                    "sabotage-log-handler-egress",
                    line,
                    getattr(node, "col_offset", 0) + 1,
                    (line,),
                    f"{what} sends log records (metrics, paths, anything logged) to another host",
                )
            )
    return out


__all__ = ["Hit", "analyze"]
