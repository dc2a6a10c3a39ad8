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
from collections.abc import Iterator, Set
from typing import NamedTuple

from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.cut import Plan, expand
from traingate.checks.sabotage.scopes import ClassAttrs, bind, target_names, warm
from traingate.checks.sabotage.store import Store
from traingate.checks.sabotage.triggers import (
    ENV,
    RANK,
    STEP,
    STRONG,
    Env,
    Trigger,
    aliases,
    last_name,
    qualname,
)
from traingate.checks.sabotage.verdicts import accept, rule_for, where

TRAIN_HOOKS = frozenset(
    {"training_step", "train_step", "compute_loss", "optimizer_step", "backward", "forward"}
    | {"on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward"}
    | {"on_before_optimizer_step", "on_before_zero_grad", "configure_gradient_clipping"}
    | {"on_step_begin", "on_step_end", "on_substep_end", "on_pre_optimizer_step"}
    | {"on_optimizer_step", "training_epoch_end", "on_train_epoch_end", "lr_scheduler_step"}
    | {"train_one_epoch", "train_epoch", "_inner_training_loop", "training_loss"}
)
_LOSS_FUNCS = frozenset({"compute_loss", "training_step", "train_step", "training_loss"})


class Hit(NamedTuple):
    rule: str
    line: int
    col: int
    lines: tuple[int, ...]  # every line it rests on: reported when the change touched one
    message: str


class Guard(NamedTuple):
    trigger: Trigger
    line: int
    test: ast.AST


def analyze(
    source: str,
    filename: str = "<file>",
    lookup: mod.Lookup | None = None,
    added: Set[int] | None = None,
    store: Store | None = None,
) -> list[Hit]:
    """Every hit of the file; with ``added`` (the change's added lines), every hit
    that can rest on one of them, walking only the units that can (see ``cut``).
    ``store``: imported helpers' facts cached across runs."""
    tree = mod.parse(source, filename)
    alias = aliases(tree)
    hooks = mod.hook_functions(tree, source)
    scope = pl.walk_local(tree.body)  # what the module's names are bound from
    plan = None if added is None else Plan(tree, source, added)
    if plan is not None and (not plan.usable or mod.module_collective(tree, alias)):
        plan = None  # a module-level collective's partner may be anywhere in the file
    facts = mod.facts(tree, filename, alias, lookup, scope, store)
    module, writers = facts.env, facts.writers
    hot: set[str] = set()
    if plan is None:
        kept = set(range(len(tree.body)))
        facts.everything()  # every name is read: one replay, not one per name
    else:
        units = plan.units()
        kept = {i for i in units if plan.touched(tree.body[i])}
        imported = plan.imported()  # functions whose trigger is read on an added line
        armed: set[ast.FunctionDef | ast.AsyncFunctionDef] = set()
        while True:  # to a fixed point: each round keeps more units or names
            armed |= plan.armed(kept, hot, alias)
            hot = facts.hot(hooks, plan.added, imported, armed, plan.span_tokens)
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
    warm(module, pl.walk_local(top))  # what the module-level walk looks up
    _Fn(module, "<module>", tree.body, out, writers=writers, nodes=scope).run()
    for i in sorted(kept):
        st = tree.body[i]
        if plan is not None and isinstance(st, ast.ClassDef):
            _visit_class(st, module, out, hooks, writers, plan, hot)
        else:
            _visit_one(st, module, out, hooks, writers)
    out.extend(_egress(tree, alias, plan))
    return sorted(set(out))


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
    node: ast.AST, env: Env, out: list[Hit], hooks: dict[str, tuple[int, ...]], writers: mod.Writers
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):  # definitions are statements: no expression holds one
            _visit_one(child, env, out, hooks, writers)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            _visit(child, env, out, hooks, writers)


def _visit_one(
    child: ast.stmt,
    env: Env,
    out: list[Hit],
    hooks: dict[str, tuple[int, ...]],
    writers: mod.Writers,
) -> None:
    if isinstance(child, ast.ClassDef):
        cenv = env.child()
        cenv.attrs = ClassAttrs(child, env, whole=True)
        _visit(child, cenv, out, hooks, writers)
    elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
        fenv = env.child()
        for a in child.args.posonlyargs + child.args.args + child.args.kwonlyargs:
            fenv.names.hide(a.arg)  # a parameter shadows a module name
        nodes = pl.walk_local(child.body)
        warm(fenv, nodes)
        bind(fenv, child.body, nodes)
        reg = hooks.get(child.name)
        fn = _Fn(fenv, child.name, child.body, out, reg is not None, _params(child), writers, nodes)
        fn.hook_lines = reg or ()
        fn.run()
        _visit(child, fenv, out, hooks, writers)
    else:
        _visit(child, env, out, hooks, writers)


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    return frozenset(a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg != "self")


def _egress(tree: ast.Module, alias: dict[str, str], plan: Plan | None) -> list[Hit]:
    nodes = ast.walk(tree) if plan is None else plan.touched_nodes()
    out = []
    for node in nodes:
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


class _Fn:
    """One function body, walked with the stack of guards around each statement."""

    def __init__(
        self,
        env: Env,
        name: str,
        body: list[ast.stmt],
        out: list[Hit],
        hook: bool = False,
        params: frozenset[str] = frozenset(),
        writers: mod.Writers | None = None,
        nodes: list[ast.AST] | None = None,  # walk_local(body), when the caller has it
    ) -> None:
        self.writers = writers or {}
        self.env = env
        self.name = name
        self.body = body
        self.out = out
        self.hook = hook
        self.scope = pl.Scope(env.alias, params if hook else frozenset())
        local = pl.walk_local(body) if nodes is None else nodes
        self.scope.bind(body, local)
        self.steps = sorted(n.lineno for n in local if isinstance(n, ast.Call) and pl.step_call(n))
        self.train = hook or name in TRAIN_HOOKS or bool(self.steps)
        # Rank branches that hold a collective (nested functions included: a callback
        # defined in the rank-0 branch runs there), by the id of their test.
        self._rank_ifs: dict[int, tuple[set[int], set[int]]] | None = None
        self.hook_lines: tuple[int, ...] = ()  # where it is registered as a hook
        self._local = local
        self._clamped: dict[str, tuple[str, int]] | None = None

    def run(self) -> None:
        self.stmts(self.body, ())

    @property
    def clamped(self) -> dict[str, tuple[str, int]]:
        """Names assigned a clamped metric: computed on the first log call (the
        module-level walk's nodes are most of a large file)."""
        if self._clamped is None:
            self._clamped = {}
            for n in self._local:
                if isinstance(n, ast.Assign):
                    c = pl.clamped(n.value, self.env.alias)
                    if c is not None:
                        for t in target_names(list(n.targets)):
                            self._clamped[t] = (c, n.lineno)
        return self._clamped

    @property
    def rank_ifs(self) -> dict[int, tuple[set[int], set[int]]]:
        """Computed on the first collective: most functions have none."""
        if self._rank_ifs is None:
            self._rank_ifs = {}
            for n in ast.walk(ast.Module(body=self.body, type_ignores=[])):
                if isinstance(n, ast.If):
                    rt = self.env.taint(n.test, deep=True)
                    if rt is not None and rt.kind == RANK:
                        self._rank_ifs[id(n.test)] = (self._colls(n.body), self._colls(n.orelse))
        return self._rank_ifs

    # ------------------------------------------------------------------ walking

    def stmts(self, body: list[ast.stmt], guards: tuple[Guard, ...]) -> None:
        for st in body:
            self.stmt(st, guards)

    def stmt(self, st: ast.stmt, guards: tuple[Guard, ...]) -> None:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return  # walked on its own: it runs later, not under these guards
        if isinstance(st, (ast.If, ast.While)):
            inner = self.guarded(st.test, guards)
            self.expr(st.test, guards)
            self.skip(st, inner, guards)
            self.stmts(st.body, inner)
            # `if cfg.x and <trigger>: ... else: ...`: the else branch also runs on
            # every rank where cfg.x is false, so the trigger does not decide it.
            test = st.test
            if (
                isinstance(test, ast.BoolOp)
                and isinstance(test.op, ast.And)
                and any(self.env.taint(v, deep=True) is None for v in test.values)
            ):
                inner = guards
            self.stmts(st.orelse, inner)
            return
        if isinstance(st, ast.Raise):
            what = pl.exit_raise(st)
            if what is not None:
                self.judge("exit", st, what, guards)
            elif guards:
                exc = st.exc.func if isinstance(st.exc, ast.Call) else st.exc
                name = last_name(exc) if exc is not None else None
                self.judge("raise", st, f"raise {name or '...'}(...)", guards)
        if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            self.write(st, guards)
        if isinstance(st, ast.Return) and st.value is not None:
            self.ret(st, guards)
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(st, field, None)
            if isinstance(sub, list):
                self.stmts([s for s in sub if isinstance(s, ast.stmt)], guards)
        for h in getattr(st, "handlers", []):
            self.stmts(h.body, guards)
        for case in getattr(st, "cases", []):
            self.stmts(case.body, guards)
        for child in ast.iter_child_nodes(st):
            if isinstance(child, ast.expr):
                self.expr(child, guards)

    def _colls(self, body: list[ast.stmt]) -> set[int]:
        return {
            id(n)
            for n in ast.walk(ast.Module(body=body, type_ignores=[]))
            if isinstance(n, ast.Call) and pl.collective(n, self.env.alias) is not None
        }

    def paired(self, call: ast.Call, guards: tuple[Guard, ...]) -> bool:
        """ "Main process first" (torch_distributed_zero_first) and "rank 0 runs the
        search, the others follow": the collective under a rank guard has a partner
        in the other branch, or under another rank guard. An unconditional
        collective elsewhere is no partner: a lone rank-guarded one is a hang."""
        rank = [g for g in guards if g.trigger.kind == RANK and id(g.test) in self.rank_ifs]
        if not rank:
            return False
        mine = id(rank[-1].test)
        body, orelse = self.rank_ifs[mine]
        if (id(call) in body and orelse) or (id(call) in orelse and body):
            return True
        outer = {id(g.test) for g in rank}
        return any(b or o for k, (b, o) in self.rank_ifs.items() if k not in outer)

    def guarded(self, test: ast.AST, guards: tuple[Guard, ...]) -> tuple[Guard, ...]:
        t = self.env.taint(test, deep=True)
        line = getattr(test, "lineno", 0)
        return guards + (Guard(t, line, test),) if t is not None else guards

    def expr(self, node: ast.AST, guards: tuple[Guard, ...]) -> None:
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.IfExp):
            self.expr(node.test, guards)
            inner = self.guarded(node.test, guards)
            self.expr(node.body, inner)
            self.expr(node.orelse, inner)
            return
        if isinstance(node, ast.BoolOp):
            g = guards
            for v in node.values:
                self.expr(v, g)
                g = self.guarded(v, g)
            return
        if isinstance(node, ast.Call):
            self.call(node, guards)
        for child in ast.iter_child_nodes(node):
            self.expr(child, guards)

    # ------------------------------------------------------------------ payloads

    def call(self, call: ast.Call, guards: tuple[Guard, ...]) -> None:
        alias = self.env.alias
        got = self.scope.inplace(call)
        if got is not None:
            what, scaling = got
            scaling = scaling and self.scope.is_scaling_target(what)
            value = _first(
                self.env.taint(a) for a in [*call.args, *(k.value for k in call.keywords)]
            )
            self.judge(
                "write",
                call,
                what,
                guards,
                value=value,
                scaling=scaling,
                force_train=self.scope.core(what),
            )
        self.helper_write(call)
        what_c = pl.collective(call, alias)
        if what_c is not None:
            paired = self.paired(call, guards)
            self.judge("collective", call, what_c, guards, force_train=not paired)
        what_e = pl.exit_call(call, alias)
        if what_e is not None:
            self.judge("exit", call, what_e, guards)
        if pl.step_call(call) and last_name(call.func) == "step":
            self.judge("step", call, f"{ast.unparse(call.func)}()", guards)
        if pl.log_call(call):
            self.metric(call)
        if last_name(call.func) in pl.HOOK_REGISTRARS:
            for arg in call.args:
                if isinstance(arg, ast.Lambda):
                    self.lambda_hook(arg, guards)

    def write(
        self, st: ast.Assign | ast.AugAssign | ast.AnnAssign, guards: tuple[Guard, ...]
    ) -> None:
        targets = st.targets if isinstance(st, ast.Assign) else [st.target]
        for tgt in targets:
            what = self.scope.state(tgt)
            if what is None or (isinstance(tgt, ast.Name) and not pl.named_state(tgt.id)):
                continue  # groups = opt.param_groups: an alias, not a write
            scaling = isinstance(st, ast.AugAssign) and isinstance(
                st.op, (ast.Mult, ast.Div, ast.FloorDiv)
            )
            if isinstance(st.value, ast.BinOp) and isinstance(st.value.op, (ast.Mult, ast.Div)):
                scaling = scaling or what in ast.unparse(st.value)
            scaling = scaling and self.scope.is_scaling_target(what)
            value = self.env.taint(st.value)
            if value is not None and value.kind == ENV and pl.is_lr(what):
                value = None  # g["lr"] = float(os.environ["LR"]) * warmup: configuration
            if self.name == "__init__" and isinstance(tgt, ast.Attribute):
                value = None  # self.lr = ... in a constructor: configuration
            self.judge(
                "write",
                st,
                f"a write to {what}",
                guards,
                value=value,
                scaling=scaling,
                force_train=self.scope.core(what),
            )
        if isinstance(st, ast.Assign):
            for tgt in st.targets:
                if isinstance(tgt, ast.Subscript) and _named_like(tgt.value, ("logs", "metrics")):
                    c = pl.clamped(st.value, self.env.alias)
                    if c is not None:
                        self.hit(
                            "sabotage-clamped-metric",
                            st,
                            (st.lineno,),
                            f"{ast.unparse(tgt)} is clamped ({c}) before it is logged",
                        )

    def helper_write(self, call: ast.Call) -> None:
        """perturb_(p.grad, 0.05), where perturb_ adds noise to its argument: no trigger
        needed, random noise in gradients is the payload (the pack's rule, one call away)."""
        got = self.writers.get(qualname(call.func, self.env.alias) or "")
        if got is None:
            return
        path, params = got
        for i, arg in enumerate(call.args):
            what = self.scope.state(arg)
            if i in params and what is not None and "grad" in what:
                self.hit(
                    "sabotage-random-write-via-helper",
                    call,
                    (call.lineno,),
                    f"{ast.unparse(call.func)}({what}, ...) writes random noise into {what}: "
                    f"{path}: {params[i]}",
                )
                return

    def ret(self, st: ast.Return, guards: tuple[Guard, ...]) -> None:
        assert st.value is not None
        if self.hook:
            value = self.env.taint(st.value)
            self.judge("write", st, "the hook's rewrite of the gradient", guards, value=value)
        elif self.name in _LOSS_FUNCS and self.scope.state(st.value) is None:
            value = self.env.taint(st.value)
            if value is not None and value.kind in STRONG:
                self.judge("write", st, "the returned loss", (), value=value)

    def lambda_hook(self, lam: ast.Lambda, guards: tuple[Guard, ...]) -> None:
        body = lam.body
        if isinstance(body, ast.IfExp):
            guards = self.guarded(body.test, guards)
        value = self.env.taint(body)
        self.judge(
            "write",
            lam,
            "the hook's rewrite of the gradient",
            guards,
            value=value,
            force_train=True,
        )

    def metric(self, call: ast.Call) -> None:
        args = [*call.args, *(k.value for k in call.keywords)]
        for a in args:
            c = pl.clamped(a, self.env.alias)
            lines: tuple[int, ...] = (call.lineno,)
            if c is None:
                for n in ast.walk(a):
                    if isinstance(n, ast.Name) and n.id in self.clamped:
                        c, line = self.clamped[n.id]
                        lines = (call.lineno, line)
                        break
            if c is not None:
                self.hit(
                    "sabotage-clamped-metric",
                    call,
                    lines,
                    f"{ast.unparse(call.func)}(...) logs a metric clamped by {c}: the dashboard "
                    "cannot show a divergence",
                )
                return

    def skip(
        self, st: ast.If | ast.While, inner: tuple[Guard, ...], guards: tuple[Guard, ...]
    ) -> None:
        """``if <trigger>: return`` before the optimizer step: the step is skipped."""
        if len(inner) == len(guards) or not isinstance(st, ast.If):
            return
        for term in st.body:
            if not isinstance(term, (ast.Return, ast.Continue, ast.Break)):
                continue
            later = [ln for ln in self.steps if ln > (st.end_lineno or st.lineno)]
            lightning = isinstance(term, ast.Return) and self.name in _LOSS_FUNCS
            if later or lightning:
                what = "the optimizer step" + (
                    f" (line {later[0]})"
                    if later
                    else " (Lightning skips a step whose training_step returns None)"
                )
                kw = type(term).__name__.lower()
                self.judge("skip", term, f"`{kw}` skips {what}", inner)
            return

    # ------------------------------------------------------------------ verdicts

    def judge(
        self,
        kind: str,
        node: ast.AST,
        what: str,
        guards: tuple[Guard, ...],
        value: Trigger | None = None,
        scaling: bool = False,
        force_train: bool = False,
    ) -> None:
        train = self.train or force_train
        for g in reversed(guards):
            if accept(kind, g.trigger, g.test, train, scaling, value):
                rule = rule_for(kind, g.trigger)
                at: tuple[int, ...] = (getattr(node, "lineno", g.line), g.line, g.trigger.line)
                src = where(g.trigger, g.line)
                self.hit(rule, node, at, f"{what} runs only when {src}")
                return
        if (
            value is not None
            and kind == "write"
            and (value.kind in STRONG or (value.kind == STEP and scaling))
        ):
            rule = rule_for(kind, value)
            lines = (getattr(node, "lineno", value.line), value.line)
            self.hit(rule, node, lines, f"{what} takes its value from {where(value, None)}")

    def hit(self, rule: str, node: ast.AST, lines: tuple[int, ...], message: str) -> None:
        line = getattr(node, "lineno", lines[0])
        col = getattr(node, "col_offset", 0) + 1
        at = tuple(sorted({*lines, *self.hook_lines}))
        self.out.append(Hit(rule, line, col, at, message))


def _first(items: Iterator[Trigger | None]) -> Trigger | None:
    return next((t for t in items if t is not None), None)


def _named_like(node: ast.AST, names: tuple[str, ...]) -> bool:
    n = last_name(node) or ""
    return any(x in n.lower() for x in names)


__all__ = ["Hit", "analyze", "qualname"]
