"""Which ``via:`` exemptions a reach finding's call satisfies (issue #16).

An exemption with ``via: [A, ...]`` quiets a ``reach-dangerous-call`` finding
only when every route from the call to a sink passes through one of the named
functions: with them taken as reviewed (nothing past them followed), the call
reaches no sink of a kind the check reports. Every route, not the chain the
message prints: that is the shortest one per kind, and a longer route around
A (a helper that calls A and, through another helper, ``pickle.loads``) would
hide behind it; a call reaching several kinds is exempt only if each kind's
routes all pass through the list. A sink called where it was reached through
a named function (``A(name)(...)``: the callable A's lookup returns, which
reach labels ``A -> builtins.dynattr``) passes it; a sink reached otherwise
(a re-exported ``pickle.loads`` called here) passes nothing: not exempt. A
conditional ``torch.load`` (a True-default ``weights_only`` parameter) on a
route around A counts as a sink whatever is passed: fail closed.

What is passed into A is not judged: reviewing A means it is safe for any
argument. Every call a change adds is judged on its own, so a new call to a
helper B, also inside A or inside a new function beside it, still blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from traingate.findings import Finding

if TYPE_CHECKING:
    from traingate.checks.base import Context
    from traingate.checks.reach.graph import Graph

RULES = ("reach-dangerous-call",)  # the reach rules whose findings name a chain
_CHECK = "reach"


def wanted(ctx: Context) -> list[tuple[str, ...]]:
    """The distinct ``via:`` lists of the policy's reach exemptions, expired ones
    too (the engine decides expiry and reports what each matched)."""
    got = [tuple(ex.via) for ex in ctx.policy.policy.exemptions if ex.check == _CHECK and ex.via]
    return list(dict.fromkeys(got))


def mark(
    ctx: Context,
    findings: list[Finding],
    judged: Mapping[str, Sequence[Any]],
    graph: Graph,
    enabled: Iterable[str],
) -> list[Finding]:
    """``findings`` with ``cut_by`` set to the ``via:`` lists each call's every
    route passes through; ``judged``: each path's judged calls (``_Judged``)."""
    vias = wanted(ctx)
    if not vias:
        return findings
    cutter = _Cutter(graph, frozenset(enabled))
    out = []
    for f in findings:
        if f.rule_id in RULES:
            sites = [j for j in judged.get(f.path, ()) if (j.line, j.col) == (f.line, f.column)]
            got = tuple(v for v in vias if cutter.cuts(sites, v))
            f = replace(f, cut_by=got) if got else f
        out.append(f)
    return out


class _Cutter:
    def __init__(self, graph: Graph, enabled: frozenset[str]) -> None:
        self.graph = graph
        self.enabled = enabled
        # via list -> (the names that count, the nodes with a route around them)
        self._open: dict[tuple[str, ...], tuple[set[str], set[str]]] = {}
        self._reverse: dict[str, list[str]] | None = None

    def cuts(self, sites: Sequence[Any], via: tuple[str, ...]) -> bool:
        """Whether every route of the call (each of its refs) passes ``via``."""
        from traingate.checks.reach.graph import _TORCH_LOADS, SINKS

        if not sites:
            return False  # the finding's call was not found: fail closed
        if via not in self._open:
            reviewed = self._reviewed(set(via))
            self._open[via] = (reviewed, self._around(reviewed))
        reviewed, around = self._open[via]
        for j in sites:
            sink = j.external is not None and (j.external in SINKS or j.external in _TORCH_LOADS)
            # The call is a sink itself: exempt only as the value a named
            # function returns (torchtune's `_get_component_from_path(name)(...)`).
            if sink and (j.via is None or not set(j.via[0]) & reviewed):
                return False
        return not any(n in around for j in sites for n in j.nodes)

    def _reviewed(self, names: set[str]) -> set[str]:
        """``names`` less those two files carry (`utils/safeio.py` and
        `src/utils/safeio.py` are both `utils.safeio`): which one runs is
        not known, so such a name matches neither (fail closed)."""
        from traingate.checks.reach.graph import display_node, split_node

        carried: dict[str, set[str]] = {}
        for n in self.graph.edges:
            if (shown := display_node(n)) in names:
                carried.setdefault(shown, set()).add(split_node(n)[0])
        return {name for name in names if len(carried.get(name, ())) <= 1}

    def _around(self, names: set[str]) -> set[str]:
        """The nodes that reach a sink along a route through none of ``names``:
        a reverse search from every sink, never entering a named function."""
        from traingate.checks.reach.graph import display_node

        g = self.graph
        if self._reverse is None:
            self._reverse = {}
            for src, targets in g.edges.items():
                for t in targets:
                    self._reverse.setdefault(t, []).append(src)
        named: dict[str, bool] = {}

        def cut(node: str) -> bool:
            if node not in named:
                named[node] = display_node(node) in names
            return named[node]

        seeds = [n for n, kinds in g.direct.items() if self._open_sink(n, kinds.keys(), names)]
        # The conditional sinks themselves (a hop with no next: a load's
        # weights_only, a lookup's name, session 28), a sink whatever is
        # passed; not their callers that forward a parameter, which reach
        # them by an edge like any other route.
        conds = {"torch-load": False, "dynamic-import": True}
        for kind, named_by in conds.items():
            if kind in self.enabled:
                seeds += [
                    n
                    for n, d in g.cond.items()
                    if any(h.next is None and p.startswith("n:") is named_by for p, h in d.items())
                ]
        stack = [n for n in seeds if not cut(n)]
        seen = set(stack)
        while stack:
            for pred in self._reverse.get(stack.pop(), ()):
                if pred not in seen and not cut(pred):
                    seen.add(pred)
                    stack.append(pred)
        return seen

    def _open_sink(self, node: str, kinds: Iterable[str], names: set[str]) -> bool:
        """Whether ``node`` makes a sink call of a reported kind that was not
        reached through one of ``names`` (a named function's returned lookup
        is through it). A sink no call of the node makes (a class that is an
        unrestricted Unpickler) counts: fail closed."""
        wanted = self.enabled & set(kinds)
        if not wanted:
            return False
        calls = self.graph.sink_calls(node)
        if wanted - {k for k, _label in calls}:
            return True
        return any(k in wanted and not set(label.split(" -> ")) & names for k, label in calls)
