"""Sub-screens several rules spell, tested once a file or unit (issue #17).

Rules repeat parts of their screens: four triggered-sabotage rules share
their payload block (``any: [name: [sleep, ...], name-regex: loss...,
string: ..., text: ...]``), and a ``unit:`` screen tests it on each unit of
a file once per rule. A sub-screen that occurs more than once in the pack
is compiled to a test that keeps its answer in the facts' memo: a screen's
answer is a function of the facts alone (screen.py), so a second rule asking
the same of the same file or unit reads it. Atoms that cost a set lookup
(name, node, stored-root) are not kept: the memo would cost more. A rule's
``unit:`` screen is kept too (unit_keys), for the unit cuts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traingate.checks.semgrep.facts import Facts

_CHEAP = frozenset({"name", "node", "stored-root"})


def key(spec: Any) -> str | None:
    """The memo key of a sub-screen (its spelling); None for one not kept."""
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in _CHEAP:
        return None
    try:
        return "screen " + json.dumps(spec, sort_keys=True)
    except (TypeError, ValueError):
        return None  # not a screen: compile_screen says why


def repeated(specs: Iterable[Any]) -> frozenset[str]:
    """The keys of the sub-screens that occur more than once in ``specs``."""
    counts: Counter[str] = Counter()
    todo = list(specs)
    while todo:
        spec = todo.pop()
        k = key(spec)
        if k is not None:
            counts[k] += 1
        if isinstance(spec, list):
            todo += spec
        elif isinstance(spec, dict) and len(spec) == 1:
            ((kind, value),) = spec.items()
            if kind in ("all", "any") and isinstance(value, list):
                todo += value
            elif kind in ("unit", "file"):
                todo.append(value)
    return frozenset(k for k, n in counts.items() if n > 1)


def unit_keys(specs: Iterable[Any]) -> frozenset[str]:
    """The keys of the ``S`` of the screens that are ``unit: S``: kept, so
    that a unit cut's test of every unit (unitcut.unit_tests, compiled with
    the same key) reads what the mask's test of the units found (#17)."""
    found = (key(s["unit"]) for s in specs if isinstance(s, dict) and list(s) == ["unit"])
    return frozenset(k for k in found if k is not None)


def kept(test: Callable[[Facts], bool], k: str) -> Callable[[Facts], bool]:
    """``test``, its answer kept in each facts' memo under ``k``."""

    def once(f: Facts) -> bool:
        memo = f._memo
        found: bool | None = memo.get(k)
        if found is None:
            found = memo[k] = test(f)
        return found

    return once
