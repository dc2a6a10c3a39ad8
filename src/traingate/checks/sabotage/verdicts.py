"""Verdicts: whether a guard's trigger makes a payload sabotage, and how it is named."""

from __future__ import annotations

import ast

from traingate.checks.sabotage.kinds import RANDOM_CALL
from traingate.checks.sabotage.triggers import RANDOM, RANK, SIZE, STEP, STRONG, TIME, Trigger


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
