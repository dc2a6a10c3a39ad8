"""Verdicts: whether a guard's trigger makes a payload sabotage, and how it is named."""

from __future__ import annotations

import ast

from traingate.checks.sabotage.kinds import RANDOM_CALL
from traingate.checks.sabotage.triggers import (
    RANDOM,
    RANK,
    SIZE,
    STEP,
    STRONG,
    TIME,
    Env,
    Trigger,
)


def accept(
    kind: str, t: Trigger, test: ast.AST, train: bool, scaling: bool, value: Trigger | None
) -> bool:
    if t.kind == STEP:
        return kind == "write" and scaling
    if t.kind in (RANDOM, RANDOM_CALL):  # a hook's draw (draws.py), a held one (events.py)
        return kind in ("write", "skip", "exit", "step", "collective")
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


def rule_for(kind: str, t: Trigger) -> str:
    if t.kind == STEP:
        return "sabotage-step-scheduled-scaling"
    return {
        "collective": "sabotage-triggered-collective",
        "exit": "sabotage-triggered-exit",
        "raise": "sabotage-triggered-exit",
        "skip": "sabotage-triggered-skip-step",
        "step": "sabotage-triggered-skip-step",
    }.get(kind, "sabotage-env-triggered-write")


def where(t: Trigger, guard_line: int | None) -> str:
    if t.kind == STEP:
        return f"{t.what} (line {t.line})"
    at = (
        f"line {t.line}"
        if guard_line is None or guard_line == t.line
        else f"tested at line {guard_line}, read at line {t.line}"
    )
    kind = RANDOM if t.kind == RANDOM_CALL else t.kind  # a draw, wherever it is made
    return f"{t.what} [{kind}] ({at})"


def exit_guards(st: ast.If, env: Env) -> bool:
    """``if optimizer is None or not _full_scale(): return``: the rest of the block
    runs only when the test is false, so its trigger guards it as ``if`` would (#16,
    session 23). Not ``raise`` (``if "RANK" not in os.environ: raise`` is a launch
    precondition), not ``break`` (``if it >= max_iters: break`` ends the loop, with
    ``max_iters`` from the world size in litgpt), not a world size against a small
    literal (``if dist.get_world_size() == 1: return``: not distributed, in
    transformers' Trainer), and not ``if cfg.x and <trigger>: return``, whose rest
    also runs wherever ``cfg.x`` is false (the walk's rule for an ``else``)."""
    if st.orelse or not isinstance(st.body[-1], (ast.Return, ast.Continue)):
        return False
    test = st.test
    t = env.taint(test, deep=True)
    if t is None or (t.kind == SIZE and _small_literal(test)):
        return False
    return not (
        isinstance(test, ast.BoolOp)
        and isinstance(test.op, ast.And)
        and any(env.taint(v, deep=True) is None for v in test.values)
    )


def _small_literal(test: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Constant) and type(n.value) is int and n.value < 8 for n in ast.walk(test)
    )
