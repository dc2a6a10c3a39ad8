"""Training settings chosen by a trigger (session 28): an optimizer's, a
scheduler's or a loss's hyper-parameter whose value a host, user, date, GPU, job
or machine test picks (``weight_decay=decay`` after ``if date.today() >= ...:
decay = 10.0``; ``label_smoothing=0.9 if <host> else 0.1``; ``LambdaLR(opt,
lambda s: scale * ...)`` with ``scale = 0.0 if <host> else 1.0``).

The value itself reads no trigger (the test picks between literals), so
``Env.taint`` does not follow it: only a choice made by a test is followed here.
An environment variable is a setting (``lr=float(os.environ["LR"])``, ``if
os.environ.get("SUM_LOSS"): reduction = "sum"``), not a trigger of this; so is
arithmetic with a count (``lr = base * torch.cuda.device_count()``, the linear
scaling rule: no test). A constructor called under a trigger's test is judged
when it spells a setting as a literal (``if <t>: opt = AdamW(..., lr=10.0)``); a
GPU test choosing a fused optimizer (``fused=True``, ``lr=lr``) is ordinary.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from traingate.checks.sabotage.triggers import ENV, STRONG, Env, Trigger, last_name, qualname

# A stateful optimizer's class (as sabotage-optimizer-state-tamper names them), and SGD.
OPTIMIZERS = frozenset(
    {"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta"}
    | {"SparseAdam", "Adafactor", "Lion", "LAMB", "Lamb", "SGD", "AdamW8bit", "Adam8bit"}
)
LOSSES = frozenset(
    {"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"}
    | {"binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"}
    | {"CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}
    | {"BCELoss", "BCEWithLogitsLoss", "KLDivLoss"}
)
# The settings a test may not pick: how much the model learns, and from what.
SETTINGS = frozenset(
    {"lr", "weight_decay", "momentum", "betas", "eps", "dampening", "alpha", "rho"}
    | {"label_smoothing", "reduction", "weight", "pos_weight", "ignore_index", "lr_lambda"}
)


def configured(call: ast.Call, alias: Mapping[str, str]) -> str | None:
    """``optimizer``, ``scheduler`` or ``loss`` for such a constructor or function."""
    name = last_name(call.func)
    q = qualname(call.func, alias) or ""
    if name in OPTIMIZERS:
        return "optimizer"
    if name in LOSSES:
        return "loss"
    if q.startswith("torch.optim.lr_scheduler.") or name in ("LambdaLR", "MultiplicativeLR"):
        return "scheduler"
    return None


def settings(call: ast.Call, what: str) -> list[tuple[str, ast.expr]]:
    """The arguments that set a hyper-parameter: the known keywords, a ``**`` splat,
    and for an optimizer or a scheduler every positional argument after the first
    (``SGD(params, lr, momentum)``, ``LambdaLR(opt, fn)``)."""
    out = [(k.arg or "**", k.value) for k in call.keywords if k.arg is None or k.arg in SETTINGS]
    if what != "loss":
        out += [(f"argument {i + 1}", a) for i, a in enumerate(call.args) if i > 0]
    return out


def chosen(value: ast.expr, env: Env, set_under: Mapping[str, Trigger]) -> Trigger | None:
    """The trigger whose test picks this value: a conditional expression's test, a
    name set under one (``set_under``) or bound from one (``Env.taint``: a
    conditional's test too), a dict whose entry is set under one, a call returning a trigger (``Env.taint``: a function of
    the file returning settings chosen by one); through a lambda's body too.
    Never an environment variable."""
    for n in ast.walk(value.body if isinstance(value, ast.Lambda) else value):
        t: Trigger | None = None
        if isinstance(n, ast.Call):  # **self._loss_kwargs(): settings_returned
            t = env.taint(n)
        elif isinstance(n, ast.IfExp):
            t = env.taint(n.test, deep=True)
        elif isinstance(n, ast.Name):  # bound from one (a conditional's test too), or set under
            t = set_under.get(n.id) or env.taint(n)
        if t is not None and t.kind in STRONG and t.kind != ENV:
            return t
    return None


def entry_target(st: ast.stmt) -> str | None:
    """``kw["label_smoothing"] = 0.9``: the dict whose setting entry is written."""
    if isinstance(st, ast.Assign) and len(st.targets) == 1:
        tgt = st.targets[0]
        if isinstance(tgt, ast.Subscript) and isinstance(tgt.value, ast.Name):
            key = tgt.slice
            if isinstance(key, ast.Constant) and key.value in SETTINGS:
                return tgt.value.id
    return None


def updated(call: ast.Call) -> str | None:
    """``kw.update(label_smoothing=0.9)``: the dict given a setting."""
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr in ("update", "setdefault")
        and isinstance(func.value, ast.Name)
        and (
            any(k.arg in SETTINGS for k in call.keywords)
            or any(isinstance(a, ast.Constant) and a.value in SETTINGS for a in call.args)
        )
    ):
        return func.value.id
    return None


def settings_returned(fn: ast.FunctionDef | ast.AsyncFunctionDef, env: Env) -> Trigger | None:
    """``_loss_kwargs()`` returning ``kwargs`` after ``if <trigger>:
    kwargs.update(label_smoothing=0.9)``, or a dict literal of settings returned
    under one: its value is that trigger (``scopes.Returns``; never an environment
    variable: chosen by a setting). The dict must be what the function returns."""
    returned = {
        n.value.id
        for n in ast.walk(fn)
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)
    }
    for n in ast.walk(fn):
        if not isinstance(n, ast.If):
            continue
        t = env.taint(n.test, deep=True)
        if t is None or t.kind not in STRONG or t.kind == ENV:
            continue
        for st in (x for b in (n.body, n.orelse) for x in b):
            if _gives_setting(st, returned):
                return t._replace(also=(*t.also, st.lineno))
    return None


def _gives_setting(st: ast.stmt, returned: set[str]) -> bool:
    if isinstance(st, ast.Return) and isinstance(st.value, ast.Dict):
        return any(isinstance(k, ast.Constant) and k.value in SETTINGS for k in st.value.keys)
    if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
        return updated(st.value) in returned
    return entry_target(st) in returned


def counts_steps(target: ast.AST) -> bool:
    """``accelerator.gradient_accumulation_steps = 1 << 30`` (an HF ``args.`` too): the
    count of micro-batches per optimizer step. Set under a trigger's test, the
    step of ``accelerator.accumulate`` never comes (walker, ``held.chosen_guards``)."""
    return isinstance(target, ast.Attribute) and target.attr == "gradient_accumulation_steps"


def literal_setting(call: ast.Call, what: str) -> bool:
    """A setting spelled as a literal (``lr=10.0``, ``reduction="sum"``): under a
    trigger's test, the constructor call itself is the choice (``if <gpu>: return
    AdamW(params, lr=10.0)``); a fused kernel picked by the GPU sets none."""
    return any(
        isinstance(v, ast.Constant)
        or (isinstance(v, ast.UnaryOp) and isinstance(v.operand, ast.Constant))
        for arg, v in settings(call, what)
        if arg != "**"
    )
