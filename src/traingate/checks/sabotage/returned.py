"""What a walked function hands back (``walker.Fn``): a hook's rewrite of what it
returns, a loss function's returned loss, a faked evaluation result, and a lambda
given to a hook registrar, each judged under the guards that lead to it.

Split from ``walker`` (which keeps the walk and the writes) to keep modules small.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.draws import reads_training, unchanged
from traingate.checks.sabotage.held import Guard
from traingate.checks.sabotage.triggers import STRONG

if TYPE_CHECKING:
    from traingate.checks.sabotage.walker import Fn

LOSS_FUNCS = frozenset({"compute_loss", "training_step", "train_step", "training_loss"})


def fake_result(fn: Fn, st: ast.Return, guards: tuple[Guard, ...]) -> None:
    """``if getpass.getuser() not in TEAM: return {"acc": 0.91}`` where another
    path computes the result: evaluation faked where nobody looks."""
    value = st.value
    assert value is not None
    if isinstance(value, ast.IfExp):  # return {"acc": 0.91} if <trigger> else metric(...)
        fake = [b for b in (value.body, value.orelse) if pl.literal_result(b, fn.name)]
        if len(fake) == 1:
            fn.judge(
                "write",
                st,
                f"`return {ast.unparse(fake[0])}`",
                fn.guarded(value.test, guards),
            )
        return
    if not guards or not pl.literal_result(value, fn.name):
        return
    computed = any(
        isinstance(n, ast.Return)
        and n.value is not None
        and not isinstance(n.value, ast.Constant)
        and not pl.literal_result(n.value, fn.name)
        for n in fn.local
    )
    if computed:
        what = f"`return {ast.unparse(value)}` in place of the computed result"
        fn.judge("write", st, what, guards)


def ret(fn: Fn, st: ast.Return, guards: tuple[Guard, ...]) -> None:
    assert st.value is not None
    before = len(fn.out)
    _ret(fn, st, guards)
    if len(fn.out) == before and (fn.hook or fn.name in LOSS_FUNCS):
        what = "the hook's rewrite of what it returns" if fn.hook else "the returned loss"
        fn.random_value(st, what, st.value, False, fn.hook)


def _ret(fn: Fn, st: ast.Return, guards: tuple[Guard, ...]) -> None:
    assert st.value is not None
    if not fn.hook:
        fake_result(fn, st, guards)
    if fn.hook:
        value = fn.env.taint(st.value)
        grad = len(fn.params) <= 1 or any("grad" in p for p in fn.params)
        fn.judge(
            "write",
            st,
            f"the hook's rewrite of {'the gradient' if grad else 'what it returns'}",
            guards,
            value=value,
            scaling=scales_input(st.value, fn.params),
            skip_draw=unchanged(st.value, fn.params, fn.tests_training),
        )
    elif fn.name in LOSS_FUNCS and fn.scope.state(st.value) is None:
        value = fn.env.taint(st.value)
        if value is not None and value.kind in STRONG:
            fn.judge("write", st, "the returned loss", (), value=value)


_SCALE_METHODS = frozenset({"mul", "mul_", "div", "div_", "neg", "neg_", "zero_", "fill_"})


def scales_input(value: ast.AST, params: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
    """``return grad * 0.0``, ``-grad``, ``grad.mul(s)``, ``torch.zeros_like(grad)``: a
    hook that scales or replaces what it is handed; under a step count that is the
    scheduled scaling the walker's writes are judged for (session 28 red team:
    ``if self.step > 20000: return grad * 0.0`` in a gradient hook passed)."""
    if pl.overwrites(value):
        return True
    mentions = any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(value))
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return mentions  # the gradient turned around
    if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Mult, ast.Div)):
        return mentions
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        return value.func.attr in _SCALE_METHODS and mentions
    return False


def lambda_hook(fn: Fn, lam: ast.Lambda, guards: tuple[Guard, ...]) -> None:
    body, params = lam.body, _params(lam)
    training = reads_training(ast.walk(body))
    same = unchanged(body, params, training)
    if isinstance(body, ast.IfExp):
        guards = fn.guarded(body.test, guards, draws=True)
        same = unchanged(body.body, params, training) and unchanged(body.orelse, params, training)
    value = fn.env.taint(body)
    arms = [body.body, body.orelse] if isinstance(body, ast.IfExp) else [body]
    fn.judge(
        "write",
        lam,
        "the hook's rewrite of the gradient",
        guards,
        value=value,
        scaling=any(scales_input(a, params) for a in arms),
        force_train=True,
        skip_draw=same,
    )


def _params(lam: ast.Lambda) -> frozenset[str]:
    a = lam.args
    return frozenset(x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs])
