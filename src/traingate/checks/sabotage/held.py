"""What a write's values hold (issue #16, session 25): a clip's norm or an EMA
decay set under a trigger before the call, a clip given only what its function
was given, a value that reads what it replaces. Split from walker.py, which
keeps the walk itself."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import NamedTuple

from traingate.checks.sabotage.results import FROZEN
from traingate.checks.sabotage.scopes import target_names
from traingate.checks.sabotage.sources import ENV, RANK, SIZE
from traingate.checks.sabotage.triggers import STEP, STRONG, Trigger, last_name


class Guard(NamedTuple):
    trigger: Trigger
    line: int
    test: ast.AST


def held_value(
    taint: Callable[[ast.expr], Trigger | None],
    args: list[ast.expr],
    set_under: dict[str, Trigger],
) -> Trigger | None:
    """The trigger an in-place write's arguments take (a clip's norm, a decay),
    directly or through a name set under one before the call."""
    value = next((t for t in map(taint, args) if t is not None), None)
    if value is None and set_under:
        names = (n.id for a in args for n in ast.walk(a) if isinstance(n, ast.Name))
        value = next((t for t in map(set_under.get, names) if t is not None), None)
    return value


def passed_through(args: list[ast.expr], params: frozenset[str], local: Sequence[ast.AST]) -> bool:
    """A clip given only what the function was given (parameters it never
    rebinds, ``args.max_grad_norm``, ``model.parameters()``): under a setting
    (``if os.environ.get("ACCELERATE_USE_FSDP") == "true": return
    model.clip_grad_norm_(max_norm, norm_type)``, accelerate) the variable picks
    how to clip, not how much; the payload of a clip is in its norm."""
    bound = {n for n in target_names(_assigned(local)) if n in params}
    for a in args:
        head: ast.AST = a
        if isinstance(head, ast.Call) and not head.args and not head.keywords:
            head = head.func  # model.parameters()
        while isinstance(head, ast.Attribute):
            head = head.value
        if not isinstance(head, ast.Name) or head.id not in params or head.id in bound:
            return False
    return True


def _assigned(local: Sequence[ast.AST]) -> list[ast.AST]:
    return [
        t
        for n in local
        for t in (
            n.targets
            if isinstance(n, ast.Assign)
            else [n.target]
            if isinstance(n, (ast.AugAssign, ast.AnnAssign, ast.For))
            else []
        )
    ]


def note_set(st: ast.stmt, guards: tuple[Guard, ...], set_under: dict[str, Trigger]) -> None:
    """Remember a name assigned under a strong or step trigger (the innermost), as
    the trigger it then takes its value from, resting on the assignment too."""
    if not isinstance(st, (ast.Assign, ast.AnnAssign)):
        return
    targets = st.targets if isinstance(st, ast.Assign) else [st.target]
    for name in target_names(list(targets)):
        note_name(name, st.lineno, guards, set_under)


def note_name(
    name: str, line: int, guards: tuple[Guard, ...], set_under: dict[str, Trigger]
) -> None:
    """``note_set`` for one name (also a dict given a setting: chosen.py)."""
    strong = [g for g in guards if g.trigger.kind in STRONG or g.trigger.kind == STEP]
    if strong:
        t = strong[-1].trigger
        set_under.setdefault(name, t._replace(also=(*t.also, strong[-1].line, line)))


def reads_itself(value: ast.AST, target: ast.AST) -> bool:
    """``lr = lr * ...``: the value reads what it replaces."""
    was = ast.unparse(target)
    return any(ast.unparse(n) == was for n in ast.walk(value) if type(n) is type(target))


def named_like(node: ast.AST, names: tuple[str, ...]) -> bool:
    n = last_name(node) or ""
    return any(x in n.lower() for x in names)


def frozen_guards(what: str, guards: tuple[Guard, ...]) -> tuple[Guard, ...]:
    """The guards that make a mode switch (``results.FROZEN``) a payload: not an
    environment variable (a setting), a rank (rank 0 evaluates while the others
    wait) or the world size; a host, user, date, GPU, job or machine test, or a
    draw, still counts."""
    if not what.endswith(FROZEN):
        return guards
    return tuple(g for g in guards if g.trigger.kind not in (ENV, RANK, SIZE))


def chosen_guards(guards: tuple[Guard, ...]) -> tuple[Guard, ...]:
    """The guards that make a configuration a payload (session 28: a hook registered,
    an accumulation count set): a host, user, date, GPU, job or machine test; not an
    environment variable (a setting), a rank, the world size or a step."""
    return tuple(g for g in guards if g.trigger.kind in STRONG and g.trigger.kind != ENV)
