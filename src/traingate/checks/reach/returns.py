"""What a repository helper returns or a repository name is, judged where a change uses it (issue #16).

semgrep sees one function at a time, so a payload split over two files hides
from it: ``netutil.make_socket()`` returns a ``socket.socket(...)`` and the
changed file only connects and sends; ``compat.functional`` is
``torch.nn.functional`` re-exported and the changed file patches an attribute
of it; ``repo_path("hooks", "post-merge")`` is a path inside ``.git`` built
by a helper. The facts (``returns``, ``git_paths``, ``writes`` and the
``rm``/``hk`` call flags, see ``facts``) say what each function returns and
what each file writes; this module links them through the graph's public
resolution (``files.get``, ``resolve``, ``resolve_module``) and reports:

- ``reach-socket-egress``: an added call to a helper returning a socket, whose
  result the caller connects or sends on;
- ``reach-framework-patch``: an added write to an attribute of a framework
  module reached through repository re-exports (a direct import is the
  semgrep pack's ``tamper-framework-monkeypatch``);
- ``reach-git-hook-path``: an added call with a literal ``"hooks"`` argument
  to a helper that joins ``.git`` with its parameters.

Only added code counts, and only what is new by count against the base
version of the file (as ``reach-dangerous-call``); ``scan`` judges everything.
Notebooks are left to the other rules (their line map is not at hand here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.checks.reach.graph import Graph, display_node, split_node
from traingate.findings import Finding

Report = Callable[..., Finding]

_MAX_HOPS = 8  # helper-returns-helper and re-export chains followed
# What makes a socket: "sock" must still connect (or sendto); "conn" is connected.
SOCKET_MAKERS = {
    "socket.socket": "sock",
    "socket.SocketType": "sock",
    "socket.create_connection": "conn",
    "ssl.create_connection": "conn",
}
# tamper-framework-monkeypatch's family of modules.
FRAMEWORKS = (
    "torch",
    "transformers",
    "accelerate",
    "deepspeed",
    "lightning",
    "pytorch_lightning",
    "lightning_fabric",
    "peft",
    "trl",
    "diffusers",
    "timm",
    "safetensors",
    "apex",
    "bitsandbytes",
    "numpy",
    "random",
)
# ... and its exclusions: documented global switches, Lightning's rank, NumPy aliases.
_SWITCHES = (
    "torch._dynamo.config",
    "torch._inductor.config",
    "torch._functorch.config",
    "torch.fx.experimental._config",
)
_NUMPY_ALIASES = frozenset({"float", "int", "bool", "object", "complex", "str", "long", "unicode"})


Memo = dict[str, "tuple[str, list[str], str, str, int] | None"]


def findings(
    ctx: Context,
    files: Iterable[ChangedFile],
    graph: Graph,
    report: Report,
    facts_of: Callable[[str], Mapping[str, Any] | None] | None = None,
    memo: Memo | None = None,
) -> list[Finding]:
    """The three rules over the changed Python files. ``report`` is the
    catalog's ``RULES.finding`` (passed in: no import cycle with the package);
    ``facts_of`` gives a changed file's own facts (a scan streams them) and
    ``memo`` what helpers return, across calls."""
    out: list[Finding] = []
    memo = {} if memo is None else memo
    for f in files:
        path = f.new_path
        if path is None or not path.endswith(".py"):
            continue
        facts = graph.files.get(path) if facts_of is None else facts_of(path)
        if facts is None:
            continue
        base = _Base(ctx, f)
        added = _Added(ctx, f)
        out += _sockets(path, facts, base, added, graph, memo, report)
        out += _patches(path, facts, base, added, graph, report)
        out += _hooks(path, facts, base, added, graph, report)
    return out


class _Added:
    """Whether a span of the head file is added (always, in ``scan``)."""

    def __init__(self, ctx: Context, f: ChangedFile) -> None:
        self.all = ctx.scan_all
        self.lines = set(f.added_lines) if not ctx.scan_all else set()

    def __call__(self, line: int, end: int) -> bool:
        return self.all or any(n in self.lines for n in range(line, end + 1))


class _Base:
    """The base version's facts (empty when added, or in ``scan``), parsed only
    when an added line holds a candidate: most changed files have none, and a
    base parse per file doubled the check's cost on large changes (issue #17)."""

    def __init__(self, ctx: Context, f: ChangedFile) -> None:
        self.ctx, self.f = ctx, f
        self.facts: dict[str, Any] | None = None

    def get(self, key: str) -> list[Any]:
        if self.facts is None:
            self.facts = self._parse()
        got: list[Any] = self.facts.get(key, [])
        return got

    def _parse(self) -> dict[str, Any]:
        f = self.f
        if self.ctx.scan_all or f.old_path is None or not f.old_path.endswith(".py"):
            return {}
        from traingate.checks.reach import summary as summ

        return summ.parse_blob(self.ctx.change, f.old_oid, f.old_path) or {}


def _new(head: Counter[Any], base: Counter[Any], key: Any) -> bool:
    # New to the change: the file did not already do this as often (issue #16).
    return head[key] > base[key]


# -- sockets ----------------------------------------------------------------


def _sockets(
    path: str,
    facts: Mapping[str, Any],
    base: _Base,
    added: _Added,
    graph: Graph,
    memo: dict[str, tuple[str, list[str], str, str, int] | None],
    report: Report,
) -> list[Finding]:
    def key(c: list[Any]) -> tuple[str, tuple[str, ...]]:
        return c[1], tuple(c[5].get("rm", ()))

    uses = [c for c in facts["calls"] if c[5].get("rm") and not c[5].get("imp")]
    if not any(added(c[2], c[4]) for c in uses):
        return []
    head_n = Counter(key(c) for c in uses)
    base_n = Counter(key(c) for c in base.get("calls") if c[5].get("rm"))
    out: list[Finding] = []
    for c in uses:
        _caller, ref, line, col, end, flags = c
        if not added(line, end) or not _new(head_n, base_n, key(c)):
            continue
        got = next(
            (g for g in (_socket(n, graph, memo, 0) for n in graph.resolve(path, ref)[0]) if g),
            None,
        )
        if got is None:
            continue
        kind, chain, maker, mpath, mline = got
        names = " -> ".join(display_node(n) for n in chain)
        methods = ", ".join(f".{m}()" for m in flags["rm"])
        state = "a connected socket" if kind == "conn" else "a socket"
        out.append(
            report(
                "reach-socket-egress",
                path=path,
                line=line,
                column=col,
                message=f"{path}:{line} gets {state} from {names} -> {maker} ({mpath}:{mline}) "
                f"and calls {methods} on it: a raw network connection out of the process, "
                "split so that no one file shows both the socket and the send",
            )
        )
    return out


def _socket(
    node: str,
    graph: Graph,
    memo: dict[str, tuple[str, list[str], str, str, int] | None],
    depth: int,
) -> tuple[str, list[str], str, str, int] | None:
    """(kind, the helpers from ``node`` on, the maker, its path and line) when
    ``node`` returns a socket directly or through other helpers."""
    if node in memo:
        return memo[node]
    memo[node] = None  # a cycle returns nothing new
    if depth > _MAX_HOPS:
        return None
    path, qual = split_node(node)
    facts = graph.files.get(path)
    got = None
    for ref, line in (facts or {}).get("returns", {}).get(qual, []):
        nodes, external = graph.resolve(path, ref)
        if external in SOCKET_MAKERS:
            got = (SOCKET_MAKERS[external], [node], external, path, int(line))
            break
        inner = next((g for g in (_socket(n, graph, memo, depth + 1) for n in nodes) if g), None)
        if inner is not None:
            got = (inner[0], [node, *inner[1]], *inner[2:])
            break
    memo[node] = got
    return got


# -- framework patches through re-exports ------------------------------------


def _patches(
    path: str,
    facts: Mapping[str, Any],
    base: _Base,
    added: _Added,
    graph: Graph,
    report: Report,
) -> list[Finding]:
    writes = [w for w in facts.get("writes", []) if not w[6].get("restore")]
    if not any(added(w[3], w[5]) for w in writes):
        return []
    head_n = Counter((w[1], w[2]) for w in writes)
    base_n = Counter((w[1], w[2]) for w in base.get("writes") if not w[6].get("restore"))
    out: list[Finding] = []
    for _scope, ref, attr, line, col, end, flags in writes:
        if not added(line, end) or not _new(head_n, base_n, (ref, attr)):
            continue
        got = external_module(graph, path, ref, 0)
        if got is None or got[1] == 0:
            continue  # not a framework, or imported directly: the pack's rule
        target, hops = got
        if not _framework(target) or _excluded(target, attr):
            continue
        what = "deletes" if flags.get("del") else "replaces"
        name = f"{target}.{attr}" if attr else f"an attribute of {target} chosen at run time"
        local = ref.partition(":")[2].partition(":")[2]
        out.append(
            report(
                "reach-framework-patch",
                path=path,
                line=line,
                column=col,
                message=f"{path}:{line} {what} {name}: `{local}` is {target} re-exported "
                f"through {hops} repository module(s), so the monkeypatch does not name "
                "the framework where it is written",
            )
        )
    return out


def external_module(graph: Graph, path: str, ref: str, depth: int) -> tuple[str, int] | None:
    """The external dotted name an import ref of ``path`` stands for, following
    the repository's re-exports (``functional = _F`` at module level counts),
    and how many repository modules it went through; None when it is the
    repository's own object."""
    tag, _, rest = ref.partition(":")
    if tag != "I" or depth > _MAX_HOPS:
        return None
    level_s, _, dotted = rest.partition(":")
    level = int(level_s)
    if not graph.resolve_module(path, ref):
        return (dotted, 0) if level == 0 and dotted else None
    parts = [p for p in dotted.split(".") if p]
    for n in range(len(parts), -1, -1):
        nodes, _ext = graph.resolve(path, f"I:{level}:{'.'.join(parts[:n])}")
        if len(nodes) == 1 and split_node(nodes[0])[1] == "<module>":
            mpath, attrs = split_node(nodes[0])[0], parts[n:]
            break
    else:
        return None
    if not attrs:
        return None  # a repository module itself
    alias = (graph.files.get(mpath) or {}).get("aliases", {}).get(attrs[0])
    if not isinstance(alias, str) or not alias.startswith("I:"):
        return None
    got = external_module(graph, mpath, ".".join([alias, *attrs[1:]]), depth + 1)
    return None if got is None else (got[0], got[1] + 1)


def _framework(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in FRAMEWORKS)


def _excluded(target: str, attr: str | None) -> bool:
    if attr == "rank":
        return True  # Lightning's rank_zero_only.rank, documented
    if target == "torch.backends" or target.startswith("torch.backends."):
        return True
    if any(target == s or target.startswith(s + ".") for s in _SWITCHES):
        return True
    return target == "numpy" and attr in _NUMPY_ALIASES


# -- git hooks ---------------------------------------------------------------


def _hooks(
    path: str,
    facts: Mapping[str, Any],
    base: _Base,
    added: _Added,
    graph: Graph,
    report: Report,
) -> list[Finding]:
    calls = [c for c in facts["calls"] if c[5].get("hk") and not c[5].get("imp")]
    if not any(added(c[2], c[4]) for c in calls):
        return []
    head_n = Counter(c[1] for c in calls)
    base_n = Counter(c[1] for c in base.get("calls") if c[5].get("hk"))
    out: list[Finding] = []
    for _caller, ref, line, col, end, _flags in calls:
        if not added(line, end) or not _new(head_n, base_n, ref):
            continue
        for node in graph.resolve(path, ref)[0]:
            hpath, qual = split_node(node)
            gline = (graph.files.get(hpath) or {}).get("git_paths", {}).get(qual)
            if gline is None:
                continue
            out.append(
                report(
                    "reach-git-hook-path",
                    path=path,
                    line=line,
                    column=col,
                    message=f'{path}:{line} asks {display_node(node)} for a "hooks" path; it '
                    f'joins ".git" with its parameters ({hpath}:{gline}): a git hook being '
                    "planted, which runs on later git commands in this clone",
                )
            )
            break
    return out
