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
from collections.abc import Iterator
from typing import NamedTuple

from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.triggers import (
    ENV,
    RANK,
    SIZE,
    STEP,
    STRONG,
    TIME,
    Env,
    Trigger,
    aliases,
    int_constants,
    last_name,
    qualname,
)

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


def analyze(source: str, filename: str = "<file>", lookup: mod.Lookup | None = None) -> list[Hit]:
    tree = ast.parse(source, filename)
    alias = aliases(tree)
    module = Env(alias)
    module.consts = int_constants(tree)
    mod.bind(module, tree.body)
    far, writers = mod.imported(tree, lookup)
    module.funcs = {**far, **mod.returning(tree, module)}
    mod.bind(module, tree.body)
    writers.update({k: (filename, v) for k, v in pl.random_writers(tree, alias).items()})
    out: list[Hit] = []
    _Fn(module, "<module>", tree.body, out, writers=writers).run()
    _visit(tree, module, out, mod.hook_functions(tree), writers)
    out.extend(_egress(tree, alias))
    return sorted(set(out))


def _visit(node: ast.AST, env: Env, out: list[Hit], hooks: set[str], writers: mod.Writers) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            cenv = env.child()
            cenv.attrs = mod.class_attrs(child, env)
            _visit(child, cenv, out, hooks, writers)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            fenv = env.child()
            for a in child.args.posonlyargs + child.args.args + child.args.kwonlyargs:
                fenv.names.pop(a.arg, None)  # a parameter shadows a module name
            mod.bind(fenv, child.body)
            hook = child.name in hooks
            _Fn(fenv, child.name, child.body, out, hook, _params(child), writers).run()
            _visit(child, fenv, out, hooks, writers)
        elif isinstance(child, ast.Lambda):
            continue
        else:
            _visit(child, env, out, hooks, writers)


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    return frozenset(a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg != "self")


def _egress(tree: ast.Module, alias: dict[str, str]) -> list[Hit]:
    out = []
    for node in ast.walk(tree):
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
    ) -> None:
        self.writers = writers or {}
        self.env = env
        self.name = name
        self.body = body
        self.out = out
        self.hook = hook
        self.scope = pl.Scope(env.alias, params if hook else frozenset())
        self.scope.bind(body)
        local = pl.walk_local(body)
        self.steps = sorted(n.lineno for n in local if isinstance(n, ast.Call) and pl.step_call(n))
        self.train = hook or name in TRAIN_HOOKS or bool(self.steps)
        # Rank branches that hold a collective (nested functions included: a callback
        # defined in the rank-0 branch runs there), by the id of their test.
        self.rank_ifs: dict[int, tuple[set[int], set[int]]] = {}
        for n in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(n, ast.If):
                rt = env.taint(n.test, deep=True)
                if rt is not None and rt.kind == RANK:
                    self.rank_ifs[id(n.test)] = (self._colls(n.body), self._colls(n.orelse))
        self.clamped: dict[str, tuple[str, int]] = {}
        for n in local:
            if isinstance(n, ast.Assign):
                c = pl.clamped(n.value, env.alias)
                if c is not None:
                    for t in mod.target_names(list(n.targets)):
                        self.clamped[t] = (c, n.lineno)

    def run(self) -> None:
        self.stmts(self.body, ())

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
            if _accept(kind, g.trigger, g.test, train, scaling, value):
                rule = _rule(kind, g.trigger)
                at: tuple[int, ...] = (getattr(node, "lineno", g.line), g.line, g.trigger.line)
                src = _where(g.trigger, g.line)
                self.hit(rule, node, at, f"{what} runs only when {src}")
                return
        if (
            value is not None
            and kind == "write"
            and (value.kind in STRONG or (value.kind == STEP and scaling))
        ):
            rule = _rule(kind, value)
            lines = (getattr(node, "lineno", value.line), value.line)
            self.hit(rule, node, lines, f"{what} takes its value from {_where(value, None)}")

    def hit(self, rule: str, node: ast.AST, lines: tuple[int, ...], message: str) -> None:
        line = getattr(node, "lineno", lines[0])
        col = getattr(node, "col_offset", 0) + 1
        self.out.append(Hit(rule, line, col, tuple(sorted(set(lines))), message))


def _accept(
    kind: str, t: Trigger, test: ast.AST, train: bool, scaling: bool, value: Trigger | None
) -> bool:
    if t.kind == STEP:
        return kind == "write" and scaling
    if kind == "raise":
        return t.kind in (TIME, "host", "user")
    if kind == "step":
        return t.kind in STRONG
    if t.kind in STRONG:
        return True
    if t.kind == RANK:
        return train
    if t.kind == SIZE:
        if kind == "write" and train and (value is None or value.kind != SIZE):
            return True  # under world_size > 1, only dividing by the size is normalisation
        return train and _big_literal(test)
    return False


def _big_literal(test: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, int) and n.value >= 8
        for n in ast.walk(test)
    )


def _rule(kind: str, t: Trigger) -> str:
    if t.kind == STEP:
        return "sabotage-step-scheduled-scaling"
    return {
        "collective": "sabotage-triggered-collective",
        "exit": "sabotage-triggered-exit",
        "raise": "sabotage-triggered-exit",
        "skip": "sabotage-triggered-skip-step",
        "step": "sabotage-triggered-skip-step",
    }.get(kind, "sabotage-env-triggered-write")


def _where(t: Trigger, guard_line: int | None) -> str:
    if t.kind == STEP:
        return f"{t.what} (line {t.line})"
    at = (
        f"line {t.line}"
        if guard_line is None or guard_line == t.line
        else f"tested at line {guard_line}, read at line {t.line}"
    )
    return f"{t.what} [{t.kind}] ({at})"


def _first(items: Iterator[Trigger | None]) -> Trigger | None:
    return next((t for t in items if t is not None), None)


def _named_like(node: ast.AST, names: tuple[str, ...]) -> bool:
    n = last_name(node) or ""
    return any(x in n.lower() for x in names)


__all__ = ["Hit", "analyze", "qualname"]
