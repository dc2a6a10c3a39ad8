"""``scan``: the reach search over a whole tree, one file at a time (issue #17: memory).

In a scan every call is judged, so every function is a starting point, and
the check held every file's facts, every judged call and the whole graph at
once (~270 MB on the eight-library corpus). Here each file's calls are
resolved once, linking its callers as they go (``Graph.stream_file``), and
the file is then held slim: without its calls and writes
(``summary.LazyFacts.stream``). A file a lookup loads before its turn is held
whole and streamed next (``_turns``), so it is not read twice. After the
search, only the files a finding can come from are read again and judged,
one at a time, by the code ``check`` uses: those with a call into a function
that reaches a sink, a ``torch.load``, a re-exported sink, or what the
``returns`` rules read. A file left out has no call any rule could report.
The findings are those of the whole-tree path (tests/test_reach_streaming.py
compares the two).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.checks.reach import returns
from traingate.findings import Finding

if TYPE_CHECKING:
    from traingate.checks.reach.graph import Call, Graph
    from traingate.checks.reach.summary import Summary
    from traingate.checks.reach.torchreq import TorchRequirement

# path -> its notebook line map (None: a Python file), for every file judged
Heads = dict[str, "list[int] | None"]


class _Starts:
    """What one file's judged calls start from, as ``stream_file`` resolves
    them: the nodes (``_judged``'s condition), and whether one of them is a
    finding whatever the search gives (a torch.load, a re-exported sink)."""

    def __init__(self, graph: Graph, path: str) -> None:
        from traingate.checks.reach import _TORCH_LOADS
        from traingate.checks.reach.graph import SINKS

        self.graph, self.path = graph, path
        self.nodes: set[str] = set()
        self.hot = False
        # Once per file, not per call (issue #17: a scan calls this ~280k
        # times, and an import statement in it was ~2% of a warm scan).
        self._sinks, self._loads = SINKS, _TORCH_LOADS

    def __call__(self, call: Call, nodes: list[str], external: str | None) -> None:
        sinks, loads = self._sinks, self._loads
        if "nl" in call[5]:
            self.nodes.update(self.graph.named_targets(self.path, call[5], nodes))  # session 28
        if not nodes and external not in sinks and external not in loads:
            return
        self.nodes.update(nodes)
        if external in loads or (
            external in sinks and self.graph.via(self.path, call[1]) is not None
        ):
            self.hot = True


def search(ctx: Context, files: list[ChangedFile], s: Summary) -> tuple[Graph, Heads, set[str]]:
    """The graph the judged calls start (searched), the files judged, and
    the ones to read again (``live``)."""
    from traingate.checks.reach import _NOTEBOOK, _notebook
    from traingate.checks.reach.graph import Graph

    maps: dict[str, list[int]] = {}
    for f in files:
        path = f.new_path or ""
        if path.endswith(_NOTEBOOK):
            nb = _notebook(ctx.change.new_text(f) or "", path)
            if isinstance(nb, str):
                s.facts.incomplete[path] = nb
            elif nb is not None:
                maps[path] = nb[1]
                s.facts.add(path, nb[0])
    order = [p for f in files if not (p := f.new_path or "").endswith(_NOTEBOOK) or p in maps]
    s.facts.stream(p for p in order if p not in maps)
    graph = Graph(s.facts, paths=[*s.paths, *maps], full=s.facts.full)
    heads: Heads = {}
    near: dict[str, frozenset[str]] = {}
    live: set[str] = set()
    starts: set[str] = set()
    for path in _turns(order, s.facts.held):
        facts = s.facts.full(path)
        if facts is None:
            continue
        heads[path] = maps.get(path)
        got = _Starts(graph, path)
        graph.stream_file(path, facts, got)
        s.facts.done(path)
        if got.hot or _returns_read(facts):
            live.add(path)
        elif got.nodes:
            near[path] = frozenset(got.nodes)
        starts |= got.nodes
    graph.explore(starts)
    chains = graph.hops.keys() | graph.cond.keys()
    live |= {p for p, nodes in near.items() if not nodes.isdisjoint(chains)}
    return graph, heads, live


def _turns(order: list[str], held: dict[str, None]) -> Iterator[str]:
    """Each path of ``order`` once: the ones held whole (loaded early by a
    lookup) first, oldest first, so they are not read twice. What a file
    finds does not depend on when it is streamed (resolution reads the facts
    alone); the judging keeps the order of the files."""
    left = iter(order)
    seen: set[str] = set()
    while True:
        path = next(iter(held), None)
        if path in seen:
            held.pop(path)  # never: ``done`` drops it; guards the loop
            continue
        if path is None:
            path = next((p for p in left if p not in seen), None)
            if path is None:
                return
        seen.add(path)
        yield path


def _returns_read(facts: dict[str, Any]) -> bool:
    """Whether the ``returns`` rules read anything of this file's own."""
    return bool(facts.get("writes")) or any(
        c[5].get("rm") or c[5].get("hk") for c in facts["calls"]
    )


def judge(
    ctx: Context,
    files: list[ChangedFile],
    s: Summary,
    found: tuple[Graph, Heads, set[str]],
    treq: TorchRequirement,
    enabled: set[str],
    shown: set[tuple[str, str, str, int]] | None,
) -> list[Finding]:
    """The live files' findings, each file read again and judged alone, in
    the order of ``files`` (``shown`` keeps the first call to each sink)."""
    from traingate.checks.reach import RULES, _calls, _judged

    graph, heads, live = found
    calls: list[Finding] = []
    helpers: list[Finding] = []
    memo: returns.Memo = {}
    for f in files:
        path = f.new_path or ""
        if path not in live:
            continue
        facts = s.facts.full(path)
        if facts is None:
            raise RuntimeError(f"reach: the facts of {path} could not be read again")
        judged = _judged(ctx, f, facts, heads[path], graph, s)
        calls += _calls(path, judged, graph, treq, enabled, shown)
        helpers += returns.findings(ctx, [f], graph, RULES.finding, _Own(facts), memo)
    return calls + helpers


class _Own:
    """``returns.findings``' ``facts_of``: the judged file's full facts."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts

    def __call__(self, _path: str) -> dict[str, Any]:
        return self.facts
