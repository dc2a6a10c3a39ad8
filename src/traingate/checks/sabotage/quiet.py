"""Functions no trigger reaches (issue #17): their binding and taint work skipped.

``Env.source`` finds a trigger in a node in one of two ways:

- by the node alone (``direct``): a call ``_CALLS`` names or that can be a probe,
  ``os.environ`` spelled (a name imported from ``os``, or an ``environ``
  attribute: every keyed read and ``in`` test of it spells one), a rank or size
  name or attribute (``_named``), a step counter or an epoch literal in a
  comparison (``_step_compare``, ``_clock_compare``, whose ``ast.walk`` also
  enters lambdas);
- by a lookup: a name (``Names``: the function's own, or its parents'), a call's
  qualname (``Env.funcs``), a ``self`` attribute (``Env.attrs``).

``taint`` reads only ``source`` of nodes of the function's body (``walk_local``:
lambdas and nested definitions stop it), and ``bind`` gives a name a trigger only
when ``taint`` finds one. So when no node of the body is ``direct`` and every
lookup ``warm_local`` makes before binding answers None, binding binds nothing (a
round sees the same None everywhere), every later lookup still answers None, and
``taint`` is None on every node: a necessary condition for any trigger, checked
with the lookups the walk makes anyway. The one read of a node outside the body,
a lambda given to a hook registrar (``returned.lambda_hook``), makes its call
``direct``; ``Fn.rank_ifs`` (nested functions too) is read only under a rank
guard, which such a function never has.

A quiet function's walk can then hit only through what needs no trigger: a
random draw (a hook's, or one its body reads: ``Fn.events``), a noise writer's
call (``helper_write``) or a clamped metric. Without those it is not walked.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING

from traingate.checks.sabotage import payloads as pl
from traingate.checks.sabotage.dates import epoch as _epoch
from traingate.checks.sabotage.kinds import drawing_local
from traingate.checks.sabotage.nodes import Local, shallow
from traingate.checks.sabotage.triggers import (
    _CALLS,
    _PROBE_NAMES,
    _RANK_NAME,
    _SIZE_NAME,
    SOURCE_ATTRS,
    SOURCE_NAMES,
    STEP_NAME,
    Env,
    Trigger,
    last_name,
)

if TYPE_CHECKING:
    from traingate.checks.sabotage import module as mod

# identifier -> whether ``_named`` reads a rank or size in it (identifiers repeat);
# emptied when large, so a long scan's memory stays bounded.
_NAMED: dict[str, bool] = {}


def _named(name: str) -> bool:
    got = _NAMED.get(name)
    if got is None:
        if len(_NAMED) >= 1 << 16:
            _NAMED.clear()
        got = _NAMED[name] = bool(_RANK_NAME.match(name) or _SIZE_NAME.match(name))
    return got


def name_direct(name: str, alias: Mapping[str, str]) -> bool:
    """A name that is a trigger by itself (``Env.source``): a rank or a size, or
    ``os.environ`` or ``sys.executable`` imported."""
    return _named(name) or alias.get(name) in SOURCE_NAMES


def attr_direct(attr: str) -> bool:
    """Any attribute: ``trainer.global_rank``, ``os.environ``, ``sys.prefix``,
    ``st.st_mtime``."""
    return attr in SOURCE_ATTRS or _named(attr)


def call_direct(call: ast.Call, q: str | None) -> bool:
    """A call ``_CALLS`` names, a possible probe, or a hook registrar (a lambda it is
    given is walked as a hook: ``returned.lambda_hook``)."""
    name = last_name(call.func)
    return q in _CALLS or name in _PROBE_NAMES or name in pl.HOOK_REGISTRARS


def compare_direct(node: ast.Compare) -> bool:
    """A step counter or an epoch literal compared (``_step_compare``, ``_clock_compare``)."""
    for side in (node.left, *node.comparators):
        if _epoch(side) or STEP_NAME.match(last_name(side) or ""):
            return True
    return False


class Quiet(Env):
    """A function's scope in which no node is a trigger (see the module's doc)."""

    def taint(self, node: ast.AST | None, deep: bool = False) -> Trigger | None:
        return None


def quieted(env: Env) -> Env:
    """``env`` as a ``Quiet`` scope: the same tables (its ``child`` is an ``Env``)."""
    q = Quiet.__new__(Quiet)
    q.__dict__.update(env.__dict__)
    return q


# The deepest a body not walked may be. The walk recurses once per nested
# statement or expression, a few frames each (``Fn.stmt``, ``expr``, ``taint``,
# ``ast.unparse``): at most ~400 frames here, from a stack at most ~500 deep (100
# nested definitions, Python's indentation limit), under the limit of 1,000. A
# deeper body is walked as before, so a file too deep for the walk still blocks
# unjudged (deep.py.fixture): skipping never hides one. (Session 15 bounded the
# node count, which bounds the depth: the large shallow bodies it still walked
# were most of a scan's quiet walks, issue #17.)
SHALLOW = 100


def skip(lk: Local, hook: bool, env: Env, writers: mod.Writers, body: list[ast.stmt]) -> bool:
    """Whether a quiet body's walk can be skipped: it can hit nothing (not a hook,
    no draw read, no payload that needs no trigger) and cannot overflow the stack."""
    return (
        not hook
        and not drawing(lk, env)
        and not payload(lk, env, writers)
        # last: only a body that would be skipped is measured (each test is pure)
        and (len(lk.nodes) <= SHALLOW or shallow(body, SHALLOW))
    )


def drawing(lk: Local, env: Env) -> bool:
    """Whether the body can read a random event: ``Fn.events``' own pre-test (without
    one, no guard and no written value is an event's), from the index's names."""
    table = env.events
    if table is None:
        return False
    return drawing_local(lk, table.own, env.event_attrs, table.funcs.names if table.funcs else ())


def payload(lk: Local, env: Env, writers: mod.Writers) -> bool:
    """Whether a quiet function outside any hook, whose body reads no draw, may hit:
    only ``helper_write`` (a noise writer's call) and the clamped metrics need no
    guard nor tainted value (``Fn.judge`` reports nothing else without them)."""
    # A log call (``pl.log_call``: its last name) or a ``logs[k] =``, then a clamp
    # anywhere in the body; from the index, not a walk of every node (issue #17:
    # most of a scan's functions are tested here).
    logs = not lk.called.isdisjoint(pl._LOG_CALLS) or any(
        _logs(x)
        for n in lk.assigns
        for x in n.targets  # type: ignore[attr-defined]
    )
    if logs and _clamps(lk):
        return True
    # Every call's qualname, once each, in the order the body first makes it
    # (``helper_write`` looks each up): a call without one is no writer's.
    return any(writers.get(key) is not None for key in lk.calls)


# What ``results.clamped`` can report: a call of one of these (``min``/``max`` only
# as a plain name), or a conditional expression.
_CLAMP_CALLS = frozenset({"clamp", "clip", "clamp_max", "clamp_min", "clamp_", "clip_"})


def _clamps(lk: Local) -> bool:
    """Whether ``results.clamped`` can find a clamp anywhere in the body: a log call's
    metric is judged only through one (issue #17: a log call made most quiet
    functions walked, and logging is everywhere). ``clamped`` walks its value with
    ``ast.walk``, which also enters a lambda (the index does not: ``lk.nested``); no
    definition or class sits inside an expression."""
    for n in lk.nodes:
        t = n.__class__
        if t is ast.IfExp:
            return True
        if t is ast.Call:
            assert isinstance(n, ast.Call)
            func = n.func
            if isinstance(func, ast.Name) and func.id in ("min", "max"):
                return True
            if last_name(func) in _CLAMP_CALLS:
                return True
    return any(isinstance(n, ast.Lambda) for n in lk.nested)


def _logs(target: ast.AST) -> bool:
    """``logs[k] = ...``: what ``Fn.write`` checks for a clamped metric."""
    if not isinstance(target, ast.Subscript):
        return False
    n = (last_name(target.value) or "").lower()
    return "logs" in n or "metrics" in n
