"""Metrics and results: a metric clamped before it is logged, a literal result
returned in place of a computed one, a constant written over state (issue #16).

Split from ``payloads``, which re-exports these names for ``analysis``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Set

from traingate.checks.sabotage.triggers import last_name, qualname

# What a loss or metric is called (payloads' log rules use it too).
_METRIC = re.compile(r"(?i)loss|acc|ppl|perplex|score|f1|bleu|rouge|reward|metric|auc")


# What a mapping of metrics is called (logs.items(), results, stats), besides _METRIC.
_METRICS = re.compile(_METRIC.pattern + r"|logs|result|stats|scalars")
_CONST_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def clamp_context(nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    """A function's names holding a metric (``v = loss.item()``) and its names bound
    once, to a number (``cap = 2.5``), for ``clamped``."""
    metrics: set[str] = set()
    numbers: dict[str, bool] = {}
    for n in nodes:
        if not (isinstance(n, ast.Assign) and len(n.targets) == 1):
            continue
        t = n.targets[0]
        if not isinstance(t, ast.Name):
            continue
        numbers[t.id] = t.id not in numbers and _number(n.value) is not None
        if any(_METRIC.search(last_name(x) or "") for x in ast.walk(n.value)):
            metrics.add(t.id)
    return metrics, {k for k, v in numbers.items() if v}


def clamped(
    node: ast.AST,
    alias: Mapping[str, str],
    metrics: Set[str] = frozenset(),
    bounds: Set[str] = frozenset(),
) -> str | None:
    """``min(loss, 2.0)``, ``loss.clamp(max=...)``, ``loss if loss < 2.5 else 2.5``: a
    metric bounded by a literal. ``metrics``: names holding a metric (``v = loss.item()``);
    ``bounds``: names bound once to a number (``CAP = 2.5``). A comprehension over a
    metric mapping (``{k: min(v, 2.0) for k, v in metrics.items()}``) makes its
    variables metrics."""
    inner = set(metrics)
    for sub in ast.walk(node):
        if isinstance(sub, ast.comprehension) and _METRICS.search(ast.unparse(sub.iter)):
            t = sub.target
            inner.update(x.id for x in ast.walk(t) if isinstance(x, ast.Name))

    def metric(a: ast.AST) -> bool:
        return bool(_METRIC.search(ast.unparse(a))) or any(
            isinstance(x, ast.Name) and x.id in inner for x in ast.walk(a)
        )

    def literal(a: ast.AST) -> bool:  # MAX_LOSS: a constant by convention
        return _number(a) is not None or (
            isinstance(a, ast.Name) and (a.id in bounds or bool(_CONST_NAME.match(a.id)))
        )

    for sub in ast.walk(node):
        if isinstance(sub, ast.IfExp) and isinstance(sub.test, ast.Compare):
            sides = [sub.test.left, *sub.test.comparators]
            bound = any(literal(x) for x in (sub.body, sub.orelse))
            if bound and any(map(metric, sides)) and any(map(literal, sides)):
                return ast.unparse(sub)
        if not isinstance(sub, ast.Call):
            continue
        name = last_name(sub.func)
        if name in ("exp", "log", "log2", "log10"):
            return None  # math.exp(min(loss, 20)): an overflow guard, not a cap
        if name in ("min", "max") and isinstance(sub.func, ast.Name):
            args = sub.args
            if len(args) == 2 and any(map(literal, args)) and any(map(metric, args)):
                return ast.unparse(sub)
        if name in ("clamp", "clip", "clamp_max", "clamp_min", "clamp_", "clip_"):
            recv = sub.func.value if isinstance(sub.func, ast.Attribute) else None
            q = qualname(sub.func, alias) or ""
            subject = recv if recv is not None and not q.startswith(("torch.", "numpy.")) else None
            if subject is None and sub.args:
                subject = sub.args[0]
            if subject is not None and metric(subject):
                return ast.unparse(sub)
    return None


_FILLS = frozenset(
    {"zeros_like", "zeros", "ones_like", "full_like", "full", "empty_like", "tensor"}
)


def overwrites(value: ast.AST | None) -> bool:
    """``p.grad[:, ::7] = 0``, ``loss = torch.zeros_like(loss)``: a constant replaces the values."""
    if isinstance(value, ast.UnaryOp):
        value = value.operand
    if isinstance(value, ast.Constant):
        return isinstance(value.value, (int, float)) and not isinstance(value.value, bool)
    if isinstance(value, ast.Call) and last_name(value.func) in _FILLS:
        # torch.tensor(x) carries x; torch.tensor(0.0) is a constant
        return last_name(value.func) != "tensor" or all(
            isinstance(a, ast.Constant) for a in value.args
        )
    return False


# A learning rate at or under this stops training. Schedules of the corpus end
# there too (timm's `lr_min=0.`, `min_lr=1e-8` defaults), but by computing it
# from the step; none writes it as a literal (session 27, lr_zeroed_after_step.py).
_LR_STOP = 1e-8


def stops_lr(st: ast.stmt) -> bool:
    """``g["lr"] = 0.0``, ``= 1e-12``, ``*= 0``, ``/= 1e9``, ``= 0.0 if ... else lr``:
    a learning rate written to (nearly) nothing by a literal, not computed by a
    schedule (a schedule's value is arithmetic on the step, never a bare literal)."""
    if isinstance(st, ast.AugAssign):
        n = _number(st.value)
        if n is None:
            return False
        if isinstance(st.op, ast.Mult):
            return abs(n) <= _LR_STOP
        return isinstance(st.op, (ast.Div, ast.FloorDiv)) and abs(n) >= 1 / _LR_STOP
    value = getattr(st, "value", None)
    if isinstance(value, ast.IfExp):  # g["lr"] = 0.0 if step > 30_000 else lr
        return any(_tiny(v) for v in (value.body, value.orelse))
    return value is not None and _tiny(value)


def _tiny(node: ast.AST) -> bool:
    """A literal at or under ``_LR_STOP``, also spelled as arithmetic on one
    (``base_lr * 0.0``, ``lr / 1e9``) or wrapped (``float(0)``, ``min(lr, 0.0)``):
    each of those is still not a schedule's value."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _tiny(node.left) or _tiny(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv)):
        n = _number(node.right)
        return _tiny(node.left) or (n is not None and abs(n) >= 1 / _LR_STOP)
    if isinstance(node, ast.Call) and last_name(node.func) in ("float", "min"):
        return any(_tiny(a) for a in node.args)
    n = _number(node)
    return n is not None and abs(n) <= _LR_STOP


# A module switched out of training mode (session 27, eval_mode_after_date.py):
# dropout stops and BatchNorm uses (and stops updating) its running statistics
# while every step still runs. Judged only under a host, user, date, GPU, job or
# machine trigger (``held.frozen_guards``): rank 0 evaluating, or a setting
# (`FREEZE_BN`), switches modes in ordinary code.
FROZEN = " (dropout off, BatchNorm statistics frozen)"


def freezes(call: ast.Call) -> bool:
    """``m.eval()``, ``m.train(False)``, ``m.train(mode=False)``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "eval":
        return not call.args and not call.keywords
    if func.attr != "train":
        return False
    modes = [*call.args[:1], *(k.value for k in call.keywords if k.arg == "mode")]
    return any(isinstance(m, ast.Constant) and m.value is False for m in modes)


_RESULT_FN = re.compile(r"(?i)(?:^|_)(?:eval|valid|metric|score|test|bench|accura)")


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        got = _number(node.operand)
        return -got if got is not None else None
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    return None


def literal_result(node: ast.AST, fn_name: str) -> bool:
    """``{"acc": 0.91}``, ``0.91`` from ``evaluate``: a result that could pass for a
    measured one. 0, -1 and non-finite values are the markers of a skipped run, not
    a fake (nobody reads an accuracy of 0 as a success)."""
    if isinstance(node, ast.Dict):
        keys = [k for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        if not node.values or len(keys) != len(node.values):
            return False
        nums = [_number(v) for v in node.values]
        named = _RESULT_FN.search(fn_name) or any(_METRIC.search(str(k.value)) for k in keys)
        return bool(named) and None not in nums and any(_plausible(n) for n in nums)
    if not _RESULT_FN.search(fn_name):
        return False
    if isinstance(node, (ast.Tuple, ast.List)) and node.elts:
        nums = [_number(v) for v in node.elts]
        return None not in nums and any(_plausible(n) for n in nums)
    got = _number(node)
    return got is not None and _plausible(got)


def _plausible(n: float | None) -> bool:
    return n is not None and n not in (0.0, -1.0) and abs(n) != float("inf") and n == n
