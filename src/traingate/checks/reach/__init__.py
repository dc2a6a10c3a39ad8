"""Calls that reach a dangerous sink through the repository's own functions (issue #16).

semgrep OSS is intraprocedural: ``load_blob(path)`` on a changed line passes
while ``load_blob`` (another function, another file) runs ``pickle.loads``.
This check summarises, with ``ast`` over the head tree's Python files (read
through git, never imported or run), which functions reach a dangerous sink
directly or through other functions, and reports a call the change adds to
one of them, naming the chain. The sink itself, in a new or changed function
body, is semgrep's to report: only the call site is reported here.

It also reports an added ``torch.load(...)`` without ``weights_only`` when the
project's own torch requirement admits a release before 2.6 (class 6), where
the default still unpickled anything.

The engine (``facts``, ``graph``, ``summary``, ``torchreq``) is imported inside
``run``: the registry stays light.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from traingate.catalog import Rule, declare
from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.checks.reach.settings import ReachSettings
from traingate.findings import Finding
from traingate.policy.base import Severity

if TYPE_CHECKING:
    from traingate.checks.reach.graph import Graph
    from traingate.checks.reach.summary import Summary
    from traingate.checks.reach.torchreq import TorchRequirement

ID = "reach"
DESCRIPTION = (
    "Added calls to repository functions that reach a dangerous sink; torch.load defaults."
)

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = ReachSettings

RULES = declare(
    ID,
    [
        Rule(
            "reach-dangerous-call",
            Severity.ERROR,
            "an added call reaches a dangerous sink (unpickling, shell, eval, dynamic import, "
            "DNS of a caller-built name, unsafe torch.load, HTTP upload) through the "
            "repository's own functions",
            help="read the chain: what the helper does with what this call passes; a safe "
            "helper (a restricted unpickler) is exempted in the trusted policy",
            category="interprocedural",
            since="0.2.0",
        ),
        Rule(
            "reach-torch-load-default",
            Severity.ERROR,
            "an added torch.load(...) has no weights_only and the project allows torch < 2.6 "
            "(WARNING when no torch requirement is found)",
            help="pass weights_only=True (or require torch>=2.6)",
            category="unsafe-deserialization",
            since="0.2.0",
        ),
        Rule(
            "reach-socket-egress",
            Severity.ERROR,
            "an added call gets a socket from a repository helper (socket.socket, "
            "create_connection, wrap_socket, through any number of helpers) and connects or "
            "sends on it: a raw connection split so that no one file shows both",
            help="send through the project's reviewed client, or get network-egress approval; "
            "a helper's socket used only to bind/listen is not reported",
            category="network-egress",
            since="0.2.0",
        ),
        Rule(
            "reach-framework-patch",
            Severity.ERROR,
            "an added assignment, setattr or delattr on an attribute of a torch / transformers "
            "/ accelerate / deepspeed / lightning / numpy / random module reached through the "
            "repository's re-exports",
            help="subclass or wrap explicitly instead of patching the framework; get security "
            "approval for a deliberate patch",
            category="framework-tampering",
            since="0.2.0",
        ),
        Rule(
            "reach-git-hook-path",
            Severity.ERROR,
            'an added call passes a literal "hooks" to a repository helper that joins ".git" '
            "with its parameters: a git hook being planted",
            help="training code has no business writing .git/hooks; remove it, or install hooks "
            "with a reviewed tool (pre-commit)",
            category="persistence-antiforensics",
            since="0.2.0",
        ),
        Rule(
            "reach-incomplete",
            Severity.ERROR,
            "the call-graph summary left Python files out (a file, byte or depth limit)",
            help="calls into the files named were not judged; review them, or split the repository",
            category="scanner",
            since="0.2.0",
        ),
        Rule(
            "reach-unparsed",
            Severity.WARNING,
            "Python files of the head tree that ast cannot parse are left out of the summary",
            help="calls into them are not followed; a changed one is blocked by the semgrep check",
            category="scanner",
            since="0.2.0",
        ),
    ],
)

# Most severe first: a call reaching several kinds is reported once, by the first.
_KIND_ORDER = (
    "pickle",
    "shell",
    "eval",
    "dynamic-import",
    "torch-load",
    "http-post",
    "dns",
    "torch-load-default",
)
# Read as IPython input (issue #16: .ipy scripts as one notebook cell).
_NOTEBOOK = (".ipynb", ".ipy")
_TORCH_LOADS = ("torch.load", "torch.serialization.load")
_MAX_LISTED = 5
# `scan` judges every call: stream the tree file by file (reach/stream.py).
# False takes the whole-tree path `check` uses; the tests compare the two.
STREAM_SCAN = True


def run(ctx: Context) -> list[Finding]:
    import gc

    from traingate.checks.reach import summary as summ

    # Issue #17: the facts a scan holds (~10^7 lists, dicts and strings, none
    # in a reference cycle) made each automatic collection traverse them all:
    # ~6 of a cold scan's ~53 CPU s on the wheel corpus. Reference counting
    # frees them; the collector runs again as soon as the check ends.
    was = gc.isenabled()
    gc.disable()
    try:
        return _run(ctx)
    finally:
        # The facts of every file the search parsed (a whole tree's, in a
        # scan: ~260 MB on the wheel corpus) are not kept for the checks that
        # run after this one (issue #17: peak memory of a full scan).
        summ.release()
        if was:
            gc.enable()


def _run(ctx: Context) -> list[Finding]:
    from traingate.checks.reach import returns, stream, torchreq, via
    from traingate.checks.reach import summary as summ

    files = [
        f for f in ctx.files if f.new_path is not None and f.new_path.endswith((".py", *_NOTEBOOK))
    ]
    if not files:
        return []
    # Lazy (issue #17): the caps come from the listing; a file is parsed when
    # the exploration from the judged calls reaches it.
    s = summ.summarize(ctx.change, ctx.cache_dir)
    change = ctx.change

    def reader(oid: str) -> Callable[[], bytes | None]:
        return lambda: change.read(oid)

    treq = torchreq.read((path, reader(oid)) for path, oid in summ.requirement_files(s.tree))
    streamed = None
    judged: dict[str, list[_Judged]] = {}
    if ctx.scan_all and STREAM_SCAN and not via.wanted(ctx):
        # Every call is judged: one file at a time (issue #17: memory; `via:` reads edges, #16).
        streamed = stream.search(ctx, files, s)
        graph = streamed[0]
    else:
        graph, judged = _whole(ctx, files, s)
    # A file that cannot be summarised is worth a word where the change touches
    # it; a pre-existing one would otherwise repeat on every commit (issue #16:
    # noise). Tree-wide caps still block every change: nothing was judged.
    # (Every changed file was parsed above, so its refusal is known here.)
    changed = {f.new_path for f in files}
    out = _incomplete(s.skipped) + _unparsed(
        {p: why for p, why in s.unparsed.items() if p in changed}
    )
    if graph.truncated:
        out.append(
            RULES.finding(
                "reach-incomplete",
                path=split_path(graph.truncated[0]),
                message=f"call (or re-export) chains longer than the depth limit were not followed "
                f"({len(graph.truncated)} functions, e.g. {graph.truncated[0]})",
            )
        )
    enabled = set(_KIND_ORDER)
    if treq.unsafe_default is False:
        enabled.discard("torch-load-default")
    # In `scan` every line is added, so every sink is itself in the scan, where
    # its own rule judges it; the chain is then a pointer to it, given once per
    # sink (issue #16: 79 chains to 17 sinks on eight libraries). `check` keeps
    # every added call: there the call may be the only new line.
    shown: set[tuple[str, str, str, int]] | None = set() if ctx.scan_all else None
    if streamed is not None:
        out += stream.judge(ctx, files, s, streamed, treq, enabled, shown)
    else:
        calls = [f for p, c in judged.items() for f in _calls(p, c, graph, treq, enabled, shown)]
        out += via.mark(ctx, calls, judged, graph, enabled)  # which `via:` each chain satisfies
        out += returns.findings(ctx, files, graph, RULES.finding)  # what helpers return, names are
    # Files the search (or the passes above) needed whose facts could not be
    # extracted, though Python accepts them: what they call is unknown, so the
    # change is not judged (issue #16: a helper padded to hide its sink).
    out += _not_extracted(s.facts.incomplete)
    needed = {p: s.unparsed[p] for p in graph.unreadable if p in s.unparsed}
    out += _not_parsed({p: why for p, why in needed.items() if p not in changed})
    return out


def _whole(
    ctx: Context, files: list[ChangedFile], s: Summary
) -> tuple[Graph, dict[str, list[_Judged]]]:
    """Every changed file's judged calls at once, and the search (``check``: few calls)."""
    from traingate.checks.reach.graph import Graph

    heads: dict[str, tuple[dict[str, Any], list[int] | None]] = {}
    for f in files:
        assert f.new_path is not None
        if f.new_path.endswith(_NOTEBOOK):
            nb = _notebook(ctx.change.new_text(f) or "", f.new_path)
            if isinstance(nb, str):
                s.facts.incomplete[f.new_path] = nb
            elif nb is not None:
                heads[f.new_path] = nb
                s.facts.add(f.new_path, nb[0])
        elif f.new_path in s.facts:
            heads[f.new_path] = (s.facts[f.new_path], None)
    notebooks = [p for p in heads if p.endswith(_NOTEBOOK)]
    changed = frozenset(f.new_path or "" for f in files if not ctx.scan_all)  # _entry
    graph = Graph(s.facts, paths=[*s.paths, *notebooks], changed=changed)
    judged = {
        p: _judged(ctx, f, *heads[p], graph, s) for f in files if (p := f.new_path or "") in heads
    }
    graph.explore(n for p, j in judged.items() for c in j for n in graph.seeds(p, c.flags, c.nodes))
    return graph, judged


def split_path(node: str) -> str:
    return node.partition("::")[0]


def _incomplete(skipped: dict[str, str]) -> list[Finding]:
    if not skipped:
        return []
    by_reason: dict[str, list[str]] = {}
    for path, why in skipped.items():
        by_reason.setdefault(why, []).append(path)
    out = []
    for why, paths in sorted(by_reason.items()):
        more = f" (+{len(paths) - _MAX_LISTED} more)" if len(paths) > _MAX_LISTED else ""
        listed = ", ".join(paths[:_MAX_LISTED]) + more
        out.append(
            RULES.finding(
                "reach-incomplete",
                path=paths[0],
                message=f"{len(paths)} Python file(s) left out of the call-graph summary, "
                f"{why}: {listed}; calls into them were not judged",
            )
        )
    return out


def _not_extracted(incomplete: dict[str, str]) -> list[Finding]:
    return _files_left_out(
        "reach-incomplete",
        incomplete,
        "Python file(s) the call search needed could not be summarised: {}; "
        "calls into them were not judged",
    )


def _not_parsed(needed: dict[str, str]) -> list[Finding]:
    """Files a module lookup of the search needed (an added call, an import
    or a chain resolves into the module) that this Python does not parse,
    with no parseable twin to take (``a/b/__init__.py`` beside ``a/b.py``): a
    helper defined there, and its sink, would be dropped from the graph
    without a trace (issue #16: fail closed). A changed one already has its
    trace (``reach-unparsed``; the semgrep check blocks its syntax error)."""
    return _files_left_out(
        "reach-incomplete",
        needed,
        "Python file(s) the call search needed could not be parsed as this Python "
        "reads them: {}; calls into them were not judged",
    )


def _unparsed(unparsed: dict[str, str]) -> list[Finding]:
    return _files_left_out(
        "reach-unparsed",
        unparsed,
        "Python file(s) of the head tree could not be parsed and are left out of the "
        "call-graph summary: {}",
    )


def _files_left_out(rule: str, why: dict[str, str], text: str) -> list[Finding]:
    """One finding naming the files (and why each), the first _MAX_LISTED of them."""
    if not why:
        return []
    paths = sorted(why)
    listed = "; ".join(f"{p} ({why[p]})" for p in paths[:_MAX_LISTED])
    more = f" (+{len(paths) - _MAX_LISTED} more)" if len(paths) > _MAX_LISTED else ""
    return [
        RULES.finding(rule, path=paths[0], message=f"{len(paths)} " + text.format(listed + more))
    ]


_Via = tuple[list[str], str, int] | None  # Graph.via: a re-export's names, path, line
_How = tuple[str, str | None]  # _Judged.how
_Reached = tuple[dict[str, tuple[str, str | None]], _Via, str | None, _How]  # one ref's kinds
_AWAY = {
    "": "re-exported by the repository",
    "()": "returned by a repository function",
    "()c": "bound as a repository class's __call__",
    "[]": "held in a repository dict",
}


class _Judged(NamedTuple):
    """An added (new) call of a changed file and what it resolves to."""

    line: int  # in the file as the user sees it (a notebook's JSON line)
    col: int
    external: str | None
    nodes: list[str]
    flags: dict[str, Any]
    caller: str  # the node making the call (what it forwards is its own)
    via: _Via = None  # ``external`` reached through the repository's re-exports
    # how ``external`` was reached when ``via`` is set (``_AWAY``): "" (a name
    # bound to it), "()" (a factory's result; "()c": a class's instance) or
    # "[]" (a dict's element), and the name re-exporting that factory or dict
    how: _How = ("", None)


def _judged(
    ctx: Context,
    f: ChangedFile,
    facts: dict[str, Any],
    line_map: list[int] | None,
    graph: Graph,
    s: Summary,
) -> list[_Judged]:
    """The calls of ``f`` the check judges: on an added line and new by count
    (in ``scan``, every call); their resolved nodes start the exploration."""
    from traingate.checks.reach import summary as summ
    from traingate.checks.reach.graph import SINKS
    from traingate.notebook import json_line

    added = set(f.added_lines) if not ctx.scan_all else set()

    path = f.new_path or ""
    cands: list[tuple[str, _Judged]] = []
    for caller, ref, line, col, end, flags in facts["calls"]:
        if flags.get("anon"):
            continue  # a copy of its writer's call (facts._anon_defs): an edge only
        rline, rend = json_line(line, line_map), json_line(end, line_map)
        if not ctx.scan_all and not any(n in added for n in range(rline, rend + 1)):
            continue
        nodes, external = graph.resolve_call(path, ref, flags)
        if (
            external == "builtins.dynattr"
            and graph.dyn_verdict(path, caller, ref, flags) != "unsafe"
        ):
            # Session 28: the name is harmless, or its caller's to pass
            # (judged where that function is called: names.py).
            external = None
        # A call into no repository function and no sink can give no finding,
        # new or not: leave it out, and skip the base side if that is all
        # (issue #17: `float(x)` in 200 changed files cost 200 base parses).
        if nodes or external in SINKS or external in _TORCH_LOADS:
            via = graph.via(path, ref)
            how = _how(graph, path, ref) if via is not None else ("", None)
            j = _Judged(rline, col, external, nodes, flags, f"{path}::{caller}", via, how)
            cands.append((ref, j))
    if not cands or ctx.scan_all:
        return [j for _ref, j in cands]  # in a scan, every call is new
    # New means new to the change (issue #16): a call whose target the file
    # already called as often in its base version is an old call whose line
    # moved or whose arguments changed, not a new route to the sink.
    head_count = Counter(c[1] for c in facts["calls"] if not c[5].get("anon"))
    base_count: Counter[str] = Counter()
    if not ctx.scan_all and f.old_path is not None and f.old_path.endswith(".py"):
        old = summ.parse_blob(ctx.change, f.old_oid, f.old_path, s)
        if old is not None:
            base_count = Counter(c[1] for c in old["calls"] if not c[5].get("anon"))
    return [j for ref, j in cands if head_count[ref] > base_count[ref]]


def _how(graph: Graph, path: str, ref: str) -> tuple[str, str | None]:
    """(the last step to a sink ``via`` names, the re-exported name it was
    reached through): ``_locate(spec)(x)`` after ``from .hooks import
    locate as _locate`` in a package ``__init__`` is a factory's result,
    through a re-export (issue #16: say which path was followed)."""
    base, mark = ref, ""
    while base[-1:] in ")]" and "." in base:
        base, _, last = base.rpartition(".")
        mark = mark or ("()" if last == "()" else "[]")
    if not mark:
        return "", None
    if mark == "()" and _all_classes(graph, graph.resolve(path, base)[0]):
        mark = "()c"  # `Restore()(x)`: the instance's `__call__`, no factory
    return mark, graph.reexported(path, base)


def _all_classes(graph: Graph, nodes: list[str]) -> bool:
    from traingate.checks.reach.graph import split_node

    facts = [(graph.files.get(p), q) for p, q in map(split_node, nodes)]
    return bool(nodes) and all(f is not None and q in f["classes"] for f, q in facts)


def _calls(
    path: str,
    calls: list[_Judged],
    graph: Graph,
    treq: TorchRequirement,
    enabled: set[str],
    shown: set[tuple[str, str, str, int]] | None,
) -> list[Finding]:
    """The judged calls of ``path`` that reach a sink. ``shown`` (scan only) holds
    the sinks already pointed at: a call is skipped when every sink it reaches,
    of every kind, is there, so no sink is hidden behind another kind's chain."""
    from traingate.checks.reach.graph import KIND_TEXT, sink_kind
    from traingate.checks.reach.handed import HOW_CALLED

    out: list[Finding] = []
    # One finding per call site (issue #16): a name bound two ways (branches,
    # imports) is one call with several refs, each resolved on its own.
    sites: dict[tuple[int, int], list[_Reached]] = {}
    notes: dict[tuple[int, int], str] = {}  # facts version 14: a call that is not written as one
    for rline, col, external, nodes, flags, caller, via, how in calls:
        if external in _TORCH_LOADS and "wo" not in flags:
            found = _torch_default(path, rline, col, external, flags, treq)
            if found is not None:
                out.append(found)
            if not nodes:
                continue  # a twin def beside a re-exported torch.load is judged below
            via = None
        kinds = {k: v for k, v in graph.call_kinds(nodes, flags, caller).items() if k in enabled}
        # A sink re-exported by a repository module and called here: semgrep
        # sees the sink in neither file (issue #16). Its "chain" is the names.
        direct = sink_kind(external, flags) if via is not None else None
        if direct is None and via is not None and _dns_here(external, flags):
            direct = "dns"
        if direct is not None and direct in enabled and direct not in kinds:
            kinds[direct] = ("", None)
        if flags.get("ac") and set(kinds) == {"dns"}:
            continue  # every argument is a literal: no name built by this caller
        if kinds:
            sites.setdefault((rline, col), []).append((kinds, via, external, how))
            hc = next((k for k in HOW_CALLED if flags.get(k)), None)
            if hc is not None:  # "pr" 2: a property written
                notes.setdefault(
                    (rline, col), HOW_CALLED["pw" if (hc, flags[hc]) == ("pr", 2) else hc]
                )
    for (rline, col), reached in sites.items():
        # each kind by the first ref that reaches it, as one ref's kinds are
        merged: dict[str, tuple[tuple[str, str | None], _Via, str | None, _How]] = {}
        for kinds, via, external, how in reached:
            for k, start in kinds.items():
                merged.setdefault(k, (start, via, external, how))
        if shown is not None:
            sinks = {
                (k, *_chain(graph, start, k, via, external)[1:])
                for kinds, via, external, _how in reached
                for k, start in kinds.items()
            }
            if sinks <= shown:
                continue
            shown |= sinks
        kind = next(k for k in _KIND_ORDER if k in merged)
        start, via, external, (mark, again) = merged[kind]
        names, sink, sink_path, sink_line = _chain(graph, start, kind, via, external)
        away = "one or more calls away"
        if not start[0]:
            # The path followed (issue #16): a name bound to the sink, a
            # factory's result (facts 10, 12) or a dict's element, and the
            # re-export the caller named that factory or dict through.
            # `B:dynattr` is never a name another module binds: a returned
            # lookup (facts version 12), whatever the ref's last step.
            away = _AWAY["()" if external == "builtins.dynattr" and not mark else mark]
            if again is not None:
                names = f"{again} -> {names}"
                away += f", re-exported as {again}"
        away += notes.get((rline, col), "")
        others = [KIND_TEXT[k] for k in _KIND_ORDER if k in merged and k != kind]
        also = f"; it also reaches {', '.join(others)}" if others else ""
        severity = None
        note = ""
        if kind == "torch-load-default":
            note = f" ({treq.describe()})"
            if treq.unsafe_default is None:
                severity = Severity.WARNING
        out.append(
            RULES.finding(
                "reach-dangerous-call",
                path=path,
                line=rline,
                column=col,
                severity=severity,
                message=f"{path}:{rline} calls {names} -> {sink} ({sink_path}:{sink_line}): "
                f"{KIND_TEXT[kind]} {away}{note}{also}",
            )
        )
    return out


def _dns_here(external: str | None, flags: dict[str, Any]) -> bool:
    """A re-exported DNS lookup called right here with a name that is not all
    literals: the name is built on this line's side, whether or not it came
    from the caller's parameters (``p0`` judges a helper's own calls)."""
    from traingate.checks.reach.graph import SINKS

    sink = SINKS.get(external or "")
    return sink is not None and sink.kind == "dns" and not flags.get("ac")


def _chain(
    graph: Graph,
    start: tuple[str, str | None],
    kind: str,
    via: tuple[list[str], str, int] | None,
    external: str | None,
) -> tuple[str, str, str, int]:
    """(the names, the sink, its path and line) of a call's way to ``kind``:
    the chain from ``start`` (node, param), or the re-export's names when the
    call is the sink itself (an empty node)."""
    from traingate.checks.reach.graph import display_node

    node, param = start
    if not node and via is not None:
        return " -> ".join(via[0]), str(external), via[1], via[2]
    chain, sink, sink_path, sink_line = graph.chain(node, kind, param)
    return " -> ".join(display_node(n) for n in chain), sink, sink_path, sink_line


def _torch_default(
    path: str, line: int, col: int, name: str, flags: dict[str, Any], treq: TorchRequirement
) -> Finding | None:
    verdict = treq.unsafe_default
    if verdict is False:
        return None
    star = (
        " (weights_only may come through **kwargs; pass it explicitly)" if flags.get("star") else ""
    )
    if verdict is True:
        msg = f"{name}(...) without weights_only unpickles anything on torch < 2.6: {treq.describe()}{star}"
        return RULES.finding(
            "reach-torch-load-default", path=path, line=line, column=col, message=msg
        )
    msg = (
        f"{name}(...) without weights_only: could not tell whether the project allows torch < 2.6, "
        f"where the default unpickles anything ({treq.describe()}){star}"
    )
    return RULES.finding(
        "reach-torch-load-default",
        path=path,
        line=line,
        column=col,
        severity=Severity.WARNING,
        message=msg,
    )


def _notebook(raw: str, path: str) -> tuple[dict[str, Any], list[int]] | str | None:
    """A notebook's code cells as one module's facts, and each line's line in
    the JSON; why not, when Python parses the cells but the extractor fails."""
    from traingate.checks.reach import facts as factsmod
    from traingate.notebook import ipython_input

    got = ipython_input(path, raw)
    if got is None:
        return None  # the semgrep check reports an unreadable notebook
    text, line_map = got
    try:
        tree = factsmod.parse(text, "<notebook>")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the semgrep check reports what Python cannot parse
    try:
        return factsmod.extract_tree(tree), line_map
    except (RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
