"""The walk of one function: writes, calls, returns and skips judged under the
guards that lead to them (``analysis`` drives it per definition).

Split from ``analysis`` (which re-exports ``Hit`` and ``Guard``) to keep modules small;
what a function returns is judged in ``returned``, the settings a trigger picks are
found by ``chosen``.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

from traingate.checks.sabotage import chosen, held, returned
from traingate.checks.sabotage import events as ev
from traingate.checks.sabotage import module as mod
from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.draws import Draws, reads_training, unchanged
from traingate.checks.sabotage.held import Guard
from traingate.checks.sabotage.nodes import children
from traingate.checks.sabotage.scopes import target_names
from traingate.checks.sabotage.triggers import (
    ENV,
    RANDOM,
    RANK,
    STEP,
    STRONG,
    Env,
    Trigger,
    last_name,
    qualname,
)
from traingate.checks.sabotage.verdicts import accept, exit_guards, rule_for, where

TRAIN_HOOKS = frozenset(
    {"training_step", "train_step", "compute_loss", "optimizer_step", "backward", "forward"}
    | {"on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward"}
    | {"on_before_optimizer_step", "on_before_zero_grad", "configure_gradient_clipping"}
    | {"on_step_begin", "on_step_end", "on_substep_end", "on_pre_optimizer_step"}
    | {"on_optimizer_step", "training_epoch_end", "on_train_epoch_end", "lr_scheduler_step"}
    | {"train_one_epoch", "train_epoch", "_inner_training_loop", "training_loss"}
)


class Hit(NamedTuple):
    rule: str
    line: int
    col: int
    lines: tuple[int, ...]  # every line it rests on: reported when the change touched one
    message: str


class Fn:
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
        self.params = params
        self.scope = pl.Scope(env.alias, params if hook else frozenset(), params)
        local = pl.walk_local(body) if nodes is None else nodes
        self.scope.bind(body, local)
        self.steps = sorted(n.lineno for n in local if isinstance(n, ast.Call) and pl.step_call(n))
        self.train = hook or name in TRAIN_HOOKS or bool(self.steps)
        # Rank branches that hold a collective (nested functions included: a callback
        # defined in the rank-0 branch runs there), by the id of their test.
        self._rank_ifs: dict[int, tuple[set[int], set[int]]] | None = None
        self.hook_lines: tuple[int, ...] = ()  # where it is registered as a hook
        self.local = local
        self._clamped: dict[str, tuple[str, int]] | None = None
        self._clamp_ctx: tuple[set[str], set[str]] | None = None
        self._draws: Draws | None = None
        self._events: ev.Table | None = None
        self._events_known = False
        self._training: bool | None = None
        self.exits: set[int] = set()  # the tests of `if <t>: return` (exit_guards)
        # Names set under a trigger: `if <t>: max_norm = 1e-6` before the clip call.
        self.set_under: dict[str, Trigger] = {}

    @property
    def tests_training(self) -> bool:
        """Whether this function reads a ``training`` flag (a regulariser's test)."""
        if self._training is None:
            self._training = reads_training(self.local)
        return self._training

    @property
    def draws(self) -> Draws:
        """This function's random draws: computed for a hook's first guard."""
        if self._draws is None:
            self._draws = Draws(self.local, self.env.alias, self.env.drawing)
        return self._draws

    @property
    def events(self) -> ev.Table | None:
        """The draws and random events this function can read (None: the file has no
        draw); its own names computed on the first lookup."""
        module = self.env.events
        if module is None or self.name == "<module>":
            return module
        if not self._events_known:
            self._events_known = True
            attrs = self.env.event_attrs
            # No draw, and no held one read: no event (most functions).
            if module.drawing(self.local, attrs):
                self._events = ev.local_table(self.local, module, self.params, attrs)
        return self._events

    def run(self) -> None:
        self.stmts(self.body, ())

    @property
    def clamped(self) -> dict[str, tuple[str, int]]:
        """Names assigned a clamped metric: computed on the first log call (the
        module-level walk's nodes are most of a large file)."""
        if self._clamped is None:
            self._clamped = {}
            for n in self.local:
                if isinstance(n, ast.Assign):
                    c = pl.clamped(n.value, self.env.alias, *self.clamp_ctx)
                    if c is not None:
                        for t in target_names(list(n.targets)):
                            self._clamped[t] = (c, n.lineno)
        return self._clamped

    @property
    def clamp_ctx(self) -> tuple[set[str], set[str]]:
        if self._clamp_ctx is None:
            self._clamp_ctx = pl.clamp_context(self.local)
        return self._clamp_ctx

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
            if st.__class__ is ast.If and exit_guards(st, self.env):  # `if not <t>: return`
                guards = self.guarded(st.test, guards)
                self.exits.add(id(st.test))

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
            returned.ret(self, st, guards)
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(st, field, None)
            if isinstance(sub, list):
                self.stmts([s for s in sub if isinstance(s, ast.stmt)], guards)
        for h in getattr(st, "handlers", []):
            self.stmts(h.body, guards)
        for case in getattr(st, "cases", []):
            self.stmts(case.body, guards)
        for child in children(st):
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

    def guarded(
        self, test: ast.AST, guards: tuple[Guard, ...], draws: bool | None = None
    ) -> tuple[Guard, ...]:
        """``draws``: a random draw guards too (in a hook: ``self.hook`` by default)."""
        t = self.env.taint(test, deep=True)
        if t is None and (self.hook if draws is None else draws):
            t = self.draws.find(test)
        if t is None and self.env.events is not None:
            table = self.events
            t = table.held_guard(test) if table is not None else None
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
        # Recursive, as deep as before: a file too deep for it still blocks unjudged
        # (deep.py.fixture); ``children`` skips ctx and operators (issue #17).
        for child in children(node):
            self.expr(child, guards)

    # ------------------------------------------------------------------ payloads

    def call(self, call: ast.Call, guards: tuple[Guard, ...]) -> None:
        alias = self.env.alias
        got = self.scope.inplace(call)
        if got is not None:
            what, scaling = got
            scaling = scaling and self.scope.is_scaling_target(what)
            args = [*call.args, *(k.value for k in call.keywords)]
            value = held.held_value(self.env.taint, args, self.set_under)
            if what.endswith(pl.CLIPPED):
                # a norm set by the step count (`1e-6 if step > 200_000 else 1.0`) is
                # judged as a scaling; a step guard alone (`if step > warmup`) is not
                scaling = value is not None and value.kind == STEP
                if held.passed_through(args, self.params, self.local):
                    guards = tuple(g for g in guards if g.trigger.kind != ENV)
            guards = held.frozen_guards(what, guards)  # m.eval(): not under a rank or a setting
            before = len(self.out)
            self.judge(
                "write",
                call,
                what,
                guards,
                value=value,
                scaling=scaling,
                force_train=self.scope.core(what),
            )
            if len(self.out) == before:
                self.random_inplace(call, what)
        self.helper_write(call)
        self.setting(call, guards)
        if guards and last_name(call.func) in pl.HOOK_REGISTRARS:  # session 28
            hooked = f"{ast.unparse(call.func)}(...) (a hook registered)"
            self.judge("write", call, hooked, held.chosen_guards(guards))
        if self.scope.taken and pl.sink(call):
            self.sink(call, guards)
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
                    returned.lambda_hook(self, arg, guards)

    def write(
        self, st: ast.Assign | ast.AugAssign | ast.AnnAssign, guards: tuple[Guard, ...]
    ) -> None:
        if guards:
            held.note_set(st, guards, self.set_under)
            entry = chosen.entry_target(st)  # kw["label_smoothing"] = 0.9 under a trigger
            if entry is not None:
                held.note_name(entry, st.lineno, guards, self.set_under)
        targets = st.targets if isinstance(st, ast.Assign) else [st.target]
        for tgt in targets:
            if guards and chosen.counts_steps(tgt):  # accelerator.gradient_accumulation_steps
                count = f"a write to {ast.unparse(tgt)}"
                self.judge("write", st, count, held.chosen_guards(guards))
            snap = self.scope.taken and st.value and self.scope.snapshot_write(tgt, st.value)
            if snap:  # sd = {k: v * 0.999 for k, v in sd.items()}; torch.save(sd, path)
                desc = f"a write to {snap[0]} (then saved, loaded or returned)"
                self.judge("write", st, desc, guards, extra=snap[1])
                continue
            what = self.scope.state(tgt)
            # out = out * 0.9 in a hook rewrites what it returns.
            given = self.hook and isinstance(tgt, ast.Name) and tgt.id in self.params
            if what is None or (
                isinstance(tgt, ast.Name) and not pl.named_state(tgt.id) and not given
            ):
                continue  # groups = opt.param_groups: an alias, not a write
            scaling = isinstance(st, ast.AugAssign) and isinstance(
                st.op, (ast.Mult, ast.Div, ast.FloorDiv)
            )
            if isinstance(st.value, ast.BinOp) and isinstance(st.value.op, (ast.Mult, ast.Div)):
                scaling = scaling or what in ast.unparse(st.value)
            scaling = (scaling or pl.overwrites(st.value)) and self.scope.is_scaling_target(what)
            scaling = scaling or (pl.is_lr(what) and pl.stops_lr(st))  # g["lr"] = 0.0 (#16)
            value = self.env.taint(st.value)
            if value is not None and value.kind == ENV and pl.is_lr(what):
                value = None  # g["lr"] = float(os.environ["LR"]) * warmup: configuration
            if self.name == "__init__" and isinstance(tgt, ast.Attribute):
                value = None  # self.lr = ... in a constructor: configuration
            before = len(self.out)
            self.judge(
                "write",
                st,
                f"a write to {what}",
                guards,
                value=value,
                scaling=scaling,
                force_train=self.scope.core(what),
                skip_draw=self.hook and unchanged(st.value, self.params, self.tests_training),
                numeric=all(g.trigger.kind != ev.RANDOM_CALL for g in guards)
                or ev.numeric(self.events, st, tgt),
            )
            if len(self.out) == before and st.value is not None:
                whole = isinstance(st, ast.AugAssign)
                if whole or not pl.is_lr(what) or held.reads_itself(st.value, tgt):
                    self.random_value(st, f"a write to {what}", st.value, whole, given)
        if isinstance(st, ast.Assign):
            for tgt in st.targets:
                if isinstance(tgt, ast.Subscript) and held.named_like(
                    tgt.value, ("logs", "metrics")
                ):
                    c = pl.clamped(st.value, self.env.alias, *self.clamp_ctx)
                    if c is not None:
                        self.hit(
                            "sabotage-clamped-metric",
                            st,
                            (st.lineno,),
                            f"{ast.unparse(tgt)} is clamped ({c}) before it is logged",
                        )

    def random_value(
        self, node: ast.AST, what: str, value: ast.AST, whole: bool, given: bool
    ) -> None:
        """``loss = torch.where(torch.rand(()) < p, loss * 0.0, loss)``: a random event
        in the written value masks or swaps it (events.py). A learning rate must read
        the one it replaces (a search draws a new one); a hook's output is not judged
        when the hook tests ``training`` (stochastic depth of the whole batch)."""
        table = self.events
        if table is None or (given and self.tests_training):
            return
        t = table.gate(value, whole)
        if t is not None:
            lines = (getattr(node, "lineno", t.line), t.line, *t.also)
            self.hit(
                "sabotage-env-triggered-write",
                node,
                lines,
                f"{what} is decided by a random event, {where(t, None)}",
            )

    def random_inplace(self, call: ast.Call, what: str) -> None:
        """``p.grad.mul_((torch.rand(()) > 0.05).float())``, ``loss.masked_fill_(coin, 0)``."""
        name = last_name(call.func)
        if self.events is None or (self.hook and self.tests_training):
            return
        if name == "masked_fill_" and call.args:
            self.random_value(call, what, call.args[0], True, False)
        elif name in ("mul_", "div_", "add_", "sub_", "copy_", "lerp_"):
            for a in call.args:
                self.random_value(call, what, a, name != "copy_", False)

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

    def setting(self, call: ast.Call, guards: tuple[Guard, ...]) -> None:
        """``AdamW(..., weight_decay=decay)`` with ``decay = 10.0`` under a date test:
        a hyper-parameter a trigger's test picks (chosen.py)."""
        entry = chosen.updated(call) if guards else None
        if entry is not None:  # kw.update(reduction="sum") under a trigger
            held.note_name(entry, call.lineno, guards, self.set_under)
        what = chosen.configured(call, self.env.alias)
        if what is None:
            return
        strong = held.chosen_guards(guards)
        if strong and chosen.literal_setting(call, what):  # if <gpu>: AdamW(p, lr=10.0)
            desc = f"{ast.unparse(call.func)}(...) with a literal {what} setting"
            self.judge("write", call, desc, strong)
            return
        for arg, value in chosen.settings(call, what):
            t = chosen.chosen(value, self.env, self.set_under)
            if t is not None:
                desc = f"the {what} setting {arg} of {ast.unparse(call.func)}(...)"
                self.judge("write", call, desc, (), value=t)
                return

    def sink(self, call: ast.Call, guards: tuple[Guard, ...]) -> None:
        """``torch.save({k: v * 0.999 for k, v in sd.items()}, path)``: altered state saved."""
        for a in [*call.args, *(k.value for k in call.keywords)]:
            if self.scope.derived(a) == pl.CHANGED:
                what = f"the state {ast.unparse(call.func)}(...) is given, altered"
                self.judge("write", call, what, guards)
                return

    def metric(self, call: ast.Call) -> None:
        args = [*call.args, *(k.value for k in call.keywords)]
        for a in args:
            c = pl.clamped(a, self.env.alias, *self.clamp_ctx)
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
            lightning = isinstance(term, ast.Return) and self.name in returned.LOSS_FUNCS
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
        extra: tuple[int, ...] = (),  # more lines it rests on (where a snapshot is saved)
        skip_draw: bool = False,  # the hook hands back its input: no rewrite under a draw
        numeric: bool = True,  # a rewrite by numbers: a per-step draw's payload (returns.py)
    ) -> None:
        train = self.train or force_train
        for g in reversed(guards):
            per_step = g.trigger.kind == ev.RANDOM_CALL
            if (skip_draw and (per_step or g.trigger.kind == RANDOM)) or (per_step and not numeric):
                continue
            if id(g.test) in self.exits and (kind == "step" or skip_draw):
                continue  # after `if <t>: return`: skip() judges the step; `return x` is no rewrite
            if accept(kind, g.trigger, g.test, train, scaling, value):
                rule = rule_for(kind, g.trigger)
                at = (getattr(node, "lineno", g.line), g.line, g.trigger.line, *g.trigger.also)
                at += extra
                src = where(g.trigger, g.line)
                self.hit(rule, node, at, f"{what} runs only when {src}")
                return
        if (
            value is not None
            and kind == "write"
            and (value.kind in STRONG or (value.kind == STEP and scaling))
        ):
            rule = rule_for(kind, value)
            lines = (getattr(node, "lineno", value.line), value.line, *value.also)
            self.hit(rule, node, lines, f"{what} takes its value from {where(value, None)}")

    def hit(self, rule: str, node: ast.AST, lines: tuple[int, ...], message: str) -> None:
        line = getattr(node, "lineno", lines[0])
        col = getattr(node, "col_offset", 0) + 1
        at = tuple(sorted({*lines, *self.hook_lines}))
        self.out.append(Hit(rule, line, col, at, message))
