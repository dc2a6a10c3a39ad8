"""The call graph of a tree and which of its functions reach a dangerous sink (issue #16).

(Over 600 lines: resolution, lazy exploration and the reverse searches share
one graph's state and its tie-breaking order; split, each would reach into
the others' fields.)

semgrep OSS sees one function at a time, so ``load_blob(path)`` in a changed
line hides a ``pickle.loads`` one call away. Here the facts of the head tree's Python
files are linked: names resolve through ``import x as y``,
``from m import f as g``, relative imports, re-exports in ``__init__.py``
(stars, a def bound to another name, a module ``__getattr__``; a cycle ends
where it closes, a chain past ``_MAX_REEXPORT_HOPS`` is reported),
``self.method`` (through repository base classes) and ``Cls(...)`` (its
``__init__``). ``explore`` links only what the start nodes (what the judged
calls resolve to) reach, parsing files on demand (issue #17); then a reverse
breadth-first search from each kind of sink gives each of those functions the
shortest chain to a sink of that kind, the same chain a whole-tree graph gives
(every chain from a node lies in its forward closure; ties are broken in the
whole-tree order). Chains longer than ``MAX_DEPTH`` are not followed, and
reaching that depth is reported (the check fails closed).

A ``torch.load(..., weights_only=p)`` where ``p`` is a parameter of the
enclosing function that defaults to a literal True is conditional: the
function reaches an unsafe load only through a call that passes ``p`` a value
other than a literal True (or ``**kwargs``); one that forwards its own
True-default parameter is conditional in turn (``cond``).

Resolution over-approximates where Python would need the run time (two files
with the same module name are both candidates), and never guesses the type of
an arbitrary object: ``obj.load()`` on a value of unknown type is not an edge.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from traingate.checks.reach import names

MAX_DEPTH = 64  # hops from a sink; deeper chains are reported, not followed
# Other walks through names (factories, dicts, classes): cut there, unreported.
_MAX_ALIAS_HOPS = 8
# A name looked up through modules (``_in_module``): a cycle of re-exports
# ends where it closes, so only a chain this long with no repeat is cut, and
# that cut is reported (issue #16: nine `__init__.py` re-exports must not
# hide a helper's sink).
_MAX_REEXPORT_HOPS = 32
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))
_SOURCE_ROOTS = ("src", "lib", "python")

Flags = Mapping[str, Any]


@dataclass(frozen=True)
class Sink:
    kind: str
    counts: Callable[[Flags], bool]


def _always(flags: Flags) -> bool:
    return True


def _payload_not_constant(flags: Flags) -> bool:
    # A fixed command or expression was judged where it was written; what a
    # caller can steer is the danger one call away.
    return not flags.get("c0")


def _shell_true(flags: Flags) -> bool:
    return bool(flags.get("shell")) and not flags.get("c0")


def _name_from_caller(flags: Flags) -> bool:
    # Resolving the configured master address is ordinary; a lookup of a name
    # the caller builds is a DNS exfiltration channel (issue #16, class 4).
    return bool(flags.get("p0"))


def _torch_unsafe(flags: Flags) -> bool:
    # star 2: a `**x` not the def's own parameter, weights_only not written
    # beside it: it may hold False (facts version 16, issue #16).
    return flags.get("wo") == 0 or ("wo" not in flags and flags.get("star") == 2)


# What a call passes to a callee's True-default parameter (``passed``).
SAFE = "safe"  # omitted (the default True) or a literal True
UNSAFE = "unsafe"  # anything else, or unknown (``*args``/``**kwargs``)


# ``cond`` keys of a name handed to a callable chosen by name (names.py,
# session 28): ``n:<param>``; a bare parameter is weights_only's.
_NAME = "n:"
# A dotted name that resolves to a sink re-exported by the repository.
_SINK_NODE = "sink::"


def _cond_kind(param: str | None) -> str:
    return "dynamic-import" if param is not None and param.startswith(_NAME) else "torch-load"


def _torch_default(flags: Flags) -> bool:
    return "wo" not in flags


_PICKLE = ("pickle", "_pickle", "cPickle", "dill", "cloudpickle")
SINKS: dict[str, Sink] = {
    **{
        f"{m}.{f}": Sink("pickle", _always) for m in _PICKLE for f in ("load", "loads", "Unpickler")
    },
    "joblib.load": Sink("pickle", _always),
    "pandas.read_pickle": Sink("pickle", _always),
    "marshal.loads": Sink("pickle", _always),
    "marshal.load": Sink("pickle", _always),
    "shelve.open": Sink("pickle", _always),
    "os.system": Sink("shell", _payload_not_constant),
    "os.popen": Sink("shell", _payload_not_constant),
    "subprocess.getoutput": Sink("shell", _payload_not_constant),
    "subprocess.getstatusoutput": Sink("shell", _payload_not_constant),
    **{
        f"subprocess.{f}": Sink("shell", _shell_true)
        for f in ("run", "call", "check_call", "check_output", "Popen")
    },
    "builtins.eval": Sink("eval", _payload_not_constant),
    "builtins.exec": Sink("eval", _payload_not_constant),
    "builtins.dynattr": Sink("dynamic-import", _always),
    # A bare __import__(name) is how plugin loaders work (pygments' lexers, 320
    # of 1,036 call sites on the stand-in corpus); it runs only the module's
    # body. The danger is choosing a callable by name as well: dynattr.
    **{
        f"socket.{f}": Sink("dns", _name_from_caller)
        for f in ("gethostbyname", "gethostbyname_ex", "getaddrinfo", "gethostbyaddr")
    },
    "dns.resolver.resolve": Sink("dns", _name_from_caller),
    "dns.resolver.query": Sink("dns", _name_from_caller),
    "torch.load": Sink("torch-load", _torch_unsafe),
    "torch.serialization.load": Sink("torch-load", _torch_unsafe),
    **{
        f"{m}.{f}": Sink("http-post", _always)
        for m in ("requests", "requests.api", "httpx")
        for f in ("post", "put", "patch")
    },
}
# torch.load without weights_only is its own kind: whether it counts depends on
# the project's torch requirement, read per run (the summary is cached).
TORCH_DEFAULT = "torch-load-default"
_TORCH_LOADS = ("torch.load", "torch.serialization.load")
_UNPICKLERS = frozenset(f"{m}.Unpickler" for m in _PICKLE)

KIND_TEXT = {
    "pickle": "unpickling",
    "shell": "a shell command",
    "eval": "eval/exec of a string",
    "dynamic-import": "a callable chosen by name at run time",
    "dns": "a DNS lookup of a name the caller builds",
    "torch-load": "torch.load with weights_only off",
    TORCH_DEFAULT: "torch.load without weights_only",
    "http-post": "an HTTP upload",
}


# Pure functions of a path, asked millions of times in a scan (issue #17).
@lru_cache(maxsize=1 << 16)
def module_name(path: str) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b``."""
    stem = path[: -len(".py")] if path.endswith(".py") else path
    parts = stem.strip("/").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


@lru_cache(maxsize=1 << 16)
def display_module(path: str) -> str:
    name = module_name(path)
    for root in _SOURCE_ROOTS:
        if name.startswith(root + ".") and name != root:
            return name[len(root) + 1 :]
    return name


def node_id(path: str, qual: str) -> str:
    return f"{path}::{qual}"


def split_node(node: str) -> tuple[str, str]:
    path, _, qual = node.partition("::")
    return path, qual


def display_node(node: str) -> str:
    path, qual = split_node(node)
    mod = display_module(path)
    if qual == "<module>":
        return f"{mod} (module body)"
    return f"{mod}.{qual}"


# Worst first, as reach/__init__.py's _KIND_ORDER.
_KIND_RANK = ("pickle", "shell", "eval", "dynamic-import", "torch-load", "http-post", "dns")


def _worse(name: str, than: tuple[str, Any, Any, Any] | None) -> bool:
    """Whether sink ``name`` is worse than ``than[0]`` (None: no sink yet): one
    that counts whatever the call passes first, then by kind. One name bound
    to two sinks is followed to the worse (issue #16: a torch.load twin, a
    WARNING without a torch requirement, hid pickle.loads)."""
    if than is None:
        return True
    ranks = []
    for sink in (SINKS[name], SINKS[than[0]]):
        kind = _KIND_RANK.index(sink.kind) if sink.kind in _KIND_RANK else len(_KIND_RANK)
        ranks.append((0 if sink.counts is _always else 1, kind))
    return ranks[0] < ranks[1]


def sink_kind(external: str | None, flags: Flags) -> str | None:
    """The kind of sink an external call is, if it counts with these arguments."""
    if external is None:
        return None
    sink = SINKS.get(external)
    if sink is not None and sink.counts(flags):
        return sink.kind
    if external in _TORCH_LOADS and _torch_default(flags):
        return TORCH_DEFAULT
    return None


Call = tuple[str, str, int, int, int, dict[str, Any]]  # caller, ref, line, col, end, flags
# An external sink a derived ref reaches: (its name, the repository names on
# the way, path and line of the binding), as ``_class_external`` gives it.
_Ext = tuple[str, list[str], str, int] | None
# Last characters of a derived ref (facts version 10): ``X.()``, ``X.[key]``;
# ``X.*`` any attribute of the module ``X`` (version 14), ``X.attr.@`` an
# attribute read on an instance of ``X``, its getter if a property (version 17).
_MARKS = (")", "]", "*", "@")


@dataclass(frozen=True)
class _FileIndex:
    """A file's defs (qual -> (position, kind, line)) and its calls by caller
    (each with its position in the file), so a node expands in its own calls."""

    defs: dict[str, tuple[int, str, int]]
    calls: dict[str, list[tuple[int, Call]]]
    params: dict[str, dict[str, list[Any]]]  # facts "params" (version 3)

    @classmethod
    def of(cls, facts: Mapping[str, Any]) -> _FileIndex:
        defs = {q: (i, str(k), int(ln)) for i, (q, (k, ln)) in enumerate(facts["defs"].items())}
        calls: dict[str, list[tuple[int, Call]]] = {}
        # A streamed file's slim facts have no calls: its callers are linked.
        for i, call in enumerate(facts.get("calls", ())):
            calls.setdefault(call[0], []).append((i, call))
        return cls(defs, calls, facts.get("params") or {})


# A ``_via`` entry written (True) or read (False) by a memoised walk, and its value.
_Event = tuple[bool, tuple[str, str], Any]
# A call as ``_link`` applies it: (its position in the file, line, flags, the
# nodes it may call, the sink kind it is, the sink's label, the True-default
# parameter a conditional torch.load forwards).
_Rec = tuple[int, int, Flags, list[str], "str | None", str, "str | None"]
# stream_file's report of each call: (the call, its nodes, its external name).
OnCall = Callable[[Call, list[str], "str | None"], None]


class _Edge:
    """An edge being built: each call's (line, flags), flattened (the first
    is the edge's line; what each passes, for ``cond``)."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[Any] = []


# Special methods that do not run on an instance made (``Cls(...)``): the
# constructors, already linked, and what runs on the class or on a call.
_NOT_IMPLICIT = frozenset(
    {"__init__", "__new__", "__call__", "__init_subclass__", "__class_getitem__", "__prepare__"}
)


def _element_attr(attrs: list[str]) -> bool:
    """``X.[key].attr`` split at its dots: an attribute of a container's element."""
    return len(attrs) == 3 and attrs[1][:1] == "[" and attrs[1][-1:] == "]"


def _special(name: str) -> bool:
    """``__x__``, one name (not ``Inner.__x__``, a nested class's)."""
    return (
        len(name) > 4
        and name.startswith("__")
        and name.endswith("__")
        and "." not in name
        and name not in _NOT_IMPLICIT
    )


def _indexed(j: int, calls: list[Any]) -> list[Any]:
    """An edge's flattened (line, flags) pairs as (j, line, flags) triples."""
    out: list[Any] = []
    for k in range(0, len(calls), 2):
        out += (j, calls[k], calls[k + 1])
    return out


@dataclass
class Hop:
    """One step of a chain: to the next function, or to the sink itself."""

    next: str | None  # the next node, or None at the sink
    sink: str  # the sink's dotted name (at the last hop)
    line: int  # where this node calls the next one (or the sink)
    param: str | None = None  # the chain goes on in ``cond[next][param]``


def passed(
    flags: Flags,
    sig: list[Any] | None,
    param: str,
    star_len: Callable[[str], int | None] | None = None,
) -> str:
    """What a call with ``flags`` passes to the callee's ``param`` (``sig``:
    its facts ``params`` entry): SAFE, UNSAFE, or the name of the caller's own
    True-default parameter it forwards (the facts record only those).
    ``star_len``: how many elements the function a ``"*<ref>"`` code names
    always returns (``Graph.tuple_len``), None when not known."""
    if flags.get("star") or sig is None:
        return UNSAFE
    codes: list[Any] = []
    kn = flags.get("kn") or {}
    if param in kn:
        codes.append(kn[param])
    index, _default, shift = sig
    pa = _positional(flags.get("pa") or [], star_len)
    if index is not None:
        # A method may be called bound (self.m(x, False)) or not (C.m(obj, x,
        # False)): both positions are read, the worse wins.
        for pos in range(max(index - shift, 0), index + 1):
            if "*" in pa[: pos + 1]:
                return UNSAFE
            if pos < len(pa):
                codes.append(pa[pos])
    if any(c == 0 or c == "*" for c in codes):
        return UNSAFE
    names = [c for c in codes if isinstance(c, str)]
    return names[0] if names else SAFE


def _positional(pa: Sequence[Any], star_len: Callable[[str], int | None] | None) -> Sequence[Any]:
    """``pa`` with each ``"*<ref>"`` (a local bound once to that call, passed
    starred) replaced by as many unknown (0) codes as the function returns
    elements, or by ``"*"`` (any number) when that is not known."""
    if not any(type(c) is str and c[:1] == "*" and c != "*" for c in pa):
        return pa
    out: list[Any] = []
    for c in pa:
        if type(c) is str and c[:1] == "*" and c != "*":
            n = star_len(c[1:]) if star_len is not None else None
            out += ["*"] if n is None else [0] * n
        else:
            out.append(c)
    return out


@dataclass
class Graph:
    # path -> facts; may be lazy (summary.LazyFacts): a file is parsed when a
    # resolution or the exploration first looks into it (issue #17).
    files: Mapping[str, dict[str, Any]]
    by_full: dict[str, str] = field(default_factory=dict)  # full module name -> path
    # node -> its targets, sorted; ``_ecalls`` beside it: each call on an
    # edge as (the target's index, line, flags), flattened, in call order (a
    # class's own link has none). Tuples, one string per node (issue #17).
    edges: dict[str, tuple[str, ...]] = field(default_factory=dict)
    direct: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    hops: dict[str, dict[str, Hop]] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)  # nodes at MAX_DEPTH
    # node -> its True-default parameter -> the chain it reaches torch.load by
    # when a caller passes that parameter anything else (``Hop.param``)
    cond: dict[str, dict[str, Hop]] = field(default_factory=dict)
    _cond_direct: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    # A class whose `__init__` takes a name on (``_conditional``): class -> it.
    _init_of: dict[str, str] = field(default_factory=dict)
    # Session 28: the paths the change under review adds or modifies (empty in
    # a scan, which judges a tree): an entry point defined there is not one.
    changed: frozenset[str] = frozenset()
    # A harmless-looking dotted name handed on may name a repository function
    # (``names.passed_literals``): (level, caller, hop, those functions), made
    # conditional on what they reach once ``_bfs`` knows it (``_reach``).
    _pending: list[tuple[int, str, Hop, list[str]]] = field(default_factory=list)
    _reached: bool = False  # hops are known: a lookup, not a guess
    _last: dict[str, list[str]] | None = None  # a module name's last part -> the names
    # The files' paths in the summary's order (the listing, not parsed facts);
    # None: iterate ``files``.
    paths: list[str] | None = None
    _names: dict[str, list[str]] = field(default_factory=dict)  # module name -> paths
    _rank: dict[str, int] = field(default_factory=dict)
    _index: dict[str, _FileIndex] = field(default_factory=dict)
    _order: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # direct's keys
    # (path, ref) -> how an import ref reached an external name through the
    # repository's re-exports: (the names on the way, the path and line of the
    # last binding); see ``via``.
    _via: dict[tuple[str, str], tuple[list[str], str, int]] = field(default_factory=dict)
    # The facts of a path again, calls included, after the summary slimmed
    # them (``scan``: summary.LazyFacts.full); None: ``files`` keeps them.
    full: Callable[[str], Mapping[str, Any] | None] | None = None
    _ecalls: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)
    _first_call: dict[str, int] = field(default_factory=dict)  # callers that are no def
    # ``stream_file``: the paths streamed, the callers linked up front (until
    # ``explore`` keeps those its starts reach), classes' call records.
    _streamed: set[str] = field(default_factory=set)
    _early: set[str] = field(default_factory=set)
    _deferred: dict[str, list[_Rec]] = field(default_factory=dict)
    # Files a module lookup needed and found no parseable file for (``_module``).
    unreadable: dict[str, None] = field(default_factory=dict)
    # (path, ref) -> what a derived ref resolves to (``_derived``): computed
    # once, so a factory returning factories costs each ref once, not a power.
    _derived_at: dict[tuple[str, str], tuple[list[str], str | None]] = field(default_factory=dict)
    _derived_busy: set[tuple[str, str]] = field(default_factory=set)
    _instance_busy: set[tuple[str, str, str]] = field(default_factory=set)
    _derived_cuts: int = 0
    # path -> class -> the special methods it binds itself (``_specials``,
    # version 18): one pass over a file's defs, not one per class.
    _own_specials: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # ("m" or "e", path, attrs) of the ``_in_module`` and ``_external``
    # walks under way: a cycle of re-exports (`from .a import *` both ways)
    # ends at its second visit.
    _names_busy: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)
    # (registry path, dict) -> the defs other files register in it
    # (``_registered``: facts version 13), found once per run.
    _regs_at: dict[tuple[str, str], list[tuple[str, str, str | None, int]]] = field(
        default_factory=dict
    )
    # Lookups that depend on the files alone, memoised (issue #17: a scan
    # asked ``_module`` 6.7 million times for ~10^4 names): a file's facts and
    # whether it parses do not change during a run.
    _module_at: dict[str, str | None] = field(default_factory=dict)
    _found_at: dict[tuple[str, int, str], tuple[str, tuple[str, ...]] | None] = field(
        default_factory=dict
    )
    _binds_at: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    _stars_at: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    # The re-export walks (``_imported``, ``_in_module``, ``_external``) by
    # their arguments, with the ``_via`` entries each wrote, replayed on a
    # hit (``_memo``): a scan walked transformers' re-exports ~10^6 times.
    _memo_at: dict[tuple[Any, ...], tuple[Any, list[_Event]]] = field(default_factory=dict)
    _log: list[list[_Event]] = field(default_factory=list)
    _regs_busy: int = 0  # ``_registered`` walks under way (a partial result is seen)
    # Every module name cut at each of its dots ("a", "a.b", "a.b.c" for
    # a/b/c.py): no name that extends one not in here is a module (issue #17,
    # ``_find_module_of``).
    _prefixes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for path in self.paths if self.paths is not None else list(self.files):
            self._rank.setdefault(path, len(self._rank))
            self.by_full.setdefault(module_name(path), path)
            self._names.setdefault(module_name(path), []).append(path)
        for name in self._names:
            self._prefixes.add(name)
            i = name.find(".")
            while i >= 0:
                self._prefixes.add(name[:i])
                i = name.find(".", i + 1)

    def _module(self, name: str) -> str | None:
        """The first parseable file of that module name, as ``by_full`` held
        when it was built from parsed facts (an unparseable twin is passed)."""
        try:
            return self._module_at[name]
        except KeyError:
            pass
        found = self._names.get(name, ())
        hit = next((path for path in found if path in self.files), None)
        if hit is None:
            # Every file of the module was refused (issue #16: fail closed):
            # what it defines is unknown, not external; reach.py reports them.
            self.unreadable.update(dict.fromkeys(found))
        self._module_at[name] = hit
        return hit

    # -- resolution ---------------------------------------------------------

    def resolve(self, path: str, ref: str) -> tuple[list[str], str | None]:
        """(repository nodes, external dotted name) a ref of ``path`` may mean."""
        tag, _, rest = ref.partition(":")
        if tag == "B":
            return [], f"builtins.{rest}"
        if rest[-1:] in _MARKS:
            return self._derived(path, ref, 0)
        facts = self.files.get(path)
        if tag == "L":
            if facts is None:
                return [], None
            return self._local(path, rest, 0), self._attr_external(path, ref, rest)
        if tag == "S":
            cls, _, meth = rest.rpartition(".")
            return self._method(path, cls, meth, 0), self._attr_external(path, ref, rest)
        if tag == "I":
            level_s, _, dotted = rest.partition(":")
            return self._imported(path, int(level_s), dotted, 0)
        return [], None

    # -- what a value holds (facts version 10, issue #16) ----------------------

    def _derived(self, path: str, ref: str, depth: int) -> tuple[list[str], str | None]:
        """A ref ending in ``.()`` (what calling the result of the rest runs) or
        ``.[key]`` (an element of a dict, called): the nodes it reaches and
        the worst external sink among them (named in ``via``)."""
        key = (path, ref)
        known = self._derived_at.get(key)
        if known is not None:
            return known
        if key in self._derived_busy or depth > _MAX_ALIAS_HOPS:
            self._derived_cuts += 1  # a cycle (`f` returns `f()`) or too deep: ends here
            return [], None
        if path not in self.files:
            return [], None
        cuts = self._derived_cuts
        self._derived_busy.add(key)
        try:
            base, _, mark = ref.rpartition(".")
            if mark == "()":
                nodes, worst = self._called(path, base, depth)
            elif mark == "*":
                nodes, worst = self._any_of(path, base), None
            elif mark == "@":
                nodes, worst = self._property(path, base, depth), None
            else:
                nodes, worst = self._elements(path, base, mark[1:-1] or None, depth)
        finally:
            self._derived_busy.discard(key)
        if worst is not None:
            self._set_via(key, (worst[1], worst[2], worst[3]))
        out = (nodes, worst[0] if worst is not None else None)
        if cuts == self._derived_cuts or not self._derived_busy:
            self._derived_at[key] = out  # not cut short by a cycle: final
        return out

    def _resolve_at(self, path: str, ref: str, depth: int) -> tuple[list[str], str | None]:
        tag, _, rest = ref.partition(":")
        if tag != "B" and rest[-1:] in _MARKS:
            return self._derived(path, ref, depth + 1)
        return self.resolve(path, ref)

    def _worst(
        self, path: str, ref: str, external: str | None, worst: _Ext, here: str, line: int
    ) -> _Ext:
        """``worst``, or ``external`` (reached by ``ref`` of ``path`` at ``line``,
        named ``here``) when it is a worse sink, with the repository names on
        its way (``via``)."""
        if external is None or external not in SINKS or not _worse(external, worst):
            return worst
        via = self._get_via((path, ref))
        if via is not None:
            return (external, [here, *via[0]], via[1], via[2])
        return (external, [here], path, line)

    def _called(self, path: str, base: str, depth: int) -> tuple[list[str], _Ext]:
        """Calling what ``base`` returns when called: a class's instance runs
        its ``__call__``; a factory's result is what it returns, by name
        (``rets``: a nested def, a class, ``pickle.loads``) or as a call's
        result (``returns``: an instance, another factory's result)."""
        nodes: list[str] = []
        worst: _Ext = None
        for n in self._resolve_at(path, base, depth)[0]:
            p, q = split_node(n)
            facts = self.files.get(p)
            if facts is None:
                continue
            if q in facts["classes"]:
                nodes += [m for m in self._method(p, q, "__call__", depth + 1) if m not in nodes]
                ext = self._class_external(p, q, "__call__", depth + 1)
                if ext is not None and ext[0] in SINKS and _worse(ext[0], worst):
                    worst = ext
                continue
            here = display_node(n)
            ways = [(str(r), int(line)) for r, line in (facts.get("rets") or {}).get(q, ())]
            ways += [(f"{r}.()", int(line)) for r, line in (facts.get("returns") or {}).get(q, ())]
            for r, line in ways:
                got, found = self._resolve_at(p, r, depth)
                nodes += [m for m in got if m not in nodes]
                worst = self._worst(p, r, found, worst, here, line)
        return nodes, worst

    def _property(self, path: str, base: str, depth: int) -> list[str]:
        """``base`` is ``<class ref>.attr`` read on an instance (facts version
        17, session 25): the getter when the class, or a repository base
        before any that binds ``attr`` otherwise, makes it a property
        (``@property``, ``cached_property``, ``attr = property(getter)``);
        nothing for a plain attribute or method."""
        owner, _, attr = base.rpartition(".")
        tag, _, rest = owner.partition(":")
        facts = self.files.get(path)
        if facts is None:
            return []
        if tag == "S":
            classes = [node_id(path, rest)]
        elif tag == "L" and "." not in rest and rest in (facts.get("made") or {}):
            # `CKPT = Checkpoint(b)` at module level, `CKPT.state` read
            classes = []
            for ref, _line in facts["made"][rest]:
                classes += self._resolve_at(path, str(ref), depth)[0]
        else:
            classes = self._resolve_at(path, owner, depth)[0]
        out: list[str] = []
        for n in classes:
            p, q = split_node(n)
            for g in self._getter(p, q, attr, depth + 1):
                if g not in out:
                    out.append(g)
        return out

    def _getter(self, path: str, cls: str, attr: str, depth: int) -> list[str]:
        """The nodes of ``cls.attr``'s getter, through the repository's bases."""
        facts = self.files.get(path)
        if facts is None or cls not in facts["classes"] or depth > _MAX_ALIAS_HOPS:
            return []
        qual = f"{cls}.{attr}"
        refs = (facts.get("props") or {}).get(qual)
        if refs is not None:
            out: list[str] = []
            for ref in refs:
                out += [n for n in self._attr_resolve(path, str(ref), depth)[0] if n not in out]
            return out
        bound = facts.get("class_attrs", {}).get(qual)
        if bound is not None:
            return self._descriptor(path, bound, depth)
        if qual in facts["defs"]:
            return []  # a method of the class: no getter runs
        for base in facts["classes"][cls][0]:
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                got = self._getter(bpath, bqual, attr, depth + 1)
                if got:
                    return got
        return []

    def _descriptor(self, path: str, bound: list[Any], depth: int) -> list[str]:
        """A class attribute bound to an instance of a repository class
        (``optimizer = Pickled()``) runs its ``__get__`` when read and its
        ``__set__`` when written (version 18, session 26: a descriptor); a
        plain attribute runs nothing."""
        out: list[str] = []
        for ref, _line in bound:
            ref = str(ref)
            if not ref.endswith(".()"):
                continue
            for n in self._resolve_at(path, ref[:-3], depth)[0]:
                p, q = split_node(n)
                for meth in ("__get__", "__set__"):
                    out += [t for t in self._method(p, q, meth, depth + 1) if t not in out]
        return out

    def _any_of(self, path: str, base: str) -> list[str]:
        """``getattr(import_module("m"), name)`` with a name chosen at run time
        (facts version 14, issue #16): every function and class ``m`` defines
        at its top level may be the one called. A name ``m`` only imports is
        not followed (its own module's functions are the ones the author
        could pick from; what it re-exports is a limitation, docs/checks/reach.md)."""
        tag, _, rest = base.partition(":")
        if tag != "I":
            return []
        level_s, _, dotted = rest.partition(":")
        found = self._find_module(path, int(level_s), dotted)
        if found is None or found[1]:
            return []
        facts = self.files.get(found[0])
        if facts is None:
            return []
        return [
            node_id(found[0], q)
            for q in facts["defs"]
            if "." not in q and q not in ("<module>", "<main>")
        ]

    def _elements(
        self, path: str, base: str, key: str | None, depth: int
    ) -> tuple[list[str], _Ext]:
        """Calling an element of the dict ``base`` (``HANDLERS[name](x)``): every
        value it holds, or those of ``key`` (and of keys not literal) when
        the dict has that key. A dict of another module is found through
        its imports and re-exports."""
        tag, _, rest = base.partition(":")
        where: tuple[str, list[str]] | None = None
        if tag == "S":  # `self.HANDLERS[fmt](x)`: the class's dict, or a base's
            cls, _, attr = rest.rpartition(".")
            return self._class_dict(path, cls, attr, key, depth)
        if tag == "L":
            where = (path, rest.split("."))
        elif tag == "I":
            level_s, _, dotted = rest.partition(":")
            where = self._find_module(path, int(level_s), dotted)
        if where is None:
            return [], None
        return self._dict_at(where[0], where[1], key, depth)

    def _dict_at(
        self, path: str, attrs: list[str], key: str | None, depth: int
    ) -> tuple[list[str], _Ext]:
        facts = self.files.get(path)
        if facts is None or not attrs or depth > _MAX_ALIAS_HOPS:
            return [], None
        name = ".".join(attrs)
        entries = (facts.get("dicts") or {}).get(name)
        nodes: list[str] = []
        worst: _Ext = None
        cls = ".".join(attrs[:-1])
        if entries is None and len(attrs) > 1 and cls in facts["classes"]:
            return self._class_dict(path, cls, attrs[-1], key, depth)
        others = self._registered(path, name) if facts.get("fills") else []
        if entries is None and others:
            entries = []  # a dict only other files' decorators fill (`{}` here)
        if entries is None:
            # `from .registry import HANDLERS` in a package's __init__.py
            for ref, _line in self._bindings(path, attrs[0]):
                level_s, _, dotted = ref[2:].partition(":")
                where = self._find_module(path, int(level_s), dotted)
                if where is not None:
                    got, ext = self._dict_at(where[0], [*where[1], *attrs[1:]], key, depth + 1)
                    nodes += [n for n in got if n not in nodes]
                    if ext is not None and _worse(ext[0], worst):
                        worst = ext
            return nodes, worst
        if key is not None and key in {e[0] for e in entries} | {e[2] for e in others}:
            entries = [e for e in entries if e[0] == key or e[0] is None]
            others = [e for e in others if e[2] == key or e[2] is None]
        here = f"{display_module(path)}.{name}"
        for _key, ref, line in entries:
            got, found = self._resolve_at(path, str(ref), depth)
            nodes += [n for n in got if n not in nodes]
            worst = self._worst(path, str(ref), found, worst, here, int(line))
        for other, qual, _key, _line in others:
            got = self._local(other, qual, depth + 1)
            nodes += [n for n in got if n not in nodes]
        return nodes, worst

    def _registered(self, path: str, name: str) -> list[tuple[str, str, str | None, int]]:
        """(path, qualname, key, line) of the defs other files decorate with a
        registry function of ``path`` that stores its argument in the dict
        ``name`` (facts version 13, issue #16: timm's ``@register_model`` in
        each model file fills ``_model_entrypoints`` in ``_registry.py``):
        the bare decorator (``@register_model``) or one returned by a call
        (``@register("k")``, keyed by the literal). The files are those whose
        bytes name the decorator, or a name a file among them binds it to
        (``summary.LazyFacts.mentioning``): a registrant is parsed, the rest
        of the tree is only read."""
        known = self._regs_at.get((path, name))
        if known is not None:
            return known
        facts = self.files[path]
        fillers = {
            q: row[2] for q, rows in facts["fills"].items() for row in rows if row[0] == name
        }
        out: list[tuple[str, str, str | None, int]] = []
        self._regs_at[(path, name)] = out  # a registrant's lookups met again: ends
        self._regs_busy += 1
        try:
            return self._registrants(path, fillers, facts, out)
        finally:
            self._regs_busy -= 1

    def _registrants(
        self,
        path: str,
        fillers: dict[str, Any],
        facts: Mapping[str, Any],
        out: list[tuple[str, str, str | None, int]],
    ) -> list[tuple[str, str, str | None, int]]:
        # node -> (called: a call of it returns the filler, the filler's key)
        targets: dict[str, tuple[int, str | int | None]] = {
            node_id(path, q): (0, k) for q, k in fillers.items()
        }
        for outer, rows in (facts.get("rets") or {}).items():
            for r, _line in rows:
                if str(r)[2:] in fillers and str(r)[:2] == "L:":
                    targets[node_id(path, outer)] = (1, fillers[str(r)[2:]])
        if not targets:
            return out
        names = {split_node(n)[1].rpartition(".")[2] for n in targets}
        seen: set[str] = set()
        for _round in range(_MAX_ALIAS_HOPS):
            found = [p for p in self._mentioning(names) if p not in seen]
            seen.update(found)
            more: set[str] = set()
            for p in found:
                f = self.files.get(p)
                if f is None:
                    # names the decorator, and Python refuses it: its entries
                    # are unknown (reach-incomplete, as for a module lookup)
                    self.unreadable[p] = None
                    continue
                for qual, ref, called, line, args in f.get("regs", ()):
                    for n in self.resolve(p, str(ref))[0]:
                        t = targets.get(n)
                        if t is None or t[0] != called:
                            continue
                        k = t[1]
                        if isinstance(k, int):
                            k = args[k] if k < len(args) else None
                        if (p, str(qual), k, int(line)) not in out:
                            out.append((p, str(qual), k, int(line)))
                # `reg = register_model` (or `import ... as reg`) re-exported:
                # files naming `reg` are registrants too
                # (an alias of another name is not resolved: that could load
                # every module the file imports)
                for alias, aref in f.get("aliases", {}).items():
                    last = str(aref).rpartition(".")[2].rpartition(":")[2]
                    if (
                        alias not in names
                        and last in names
                        and not targets.keys().isdisjoint(self._in_module(p, [alias], 0))
                    ):
                        more.add(alias)
            if not more:
                break
            names |= more
        return out

    def _mentioning(self, names: set[str]) -> list[str]:
        """The paths whose text names any of ``names``: the summary reads the
        blobs (no parse); facts held in memory are all searched."""
        find = getattr(self.files, "mentioning", None)
        if find is not None:
            return list(find(names))
        return list(self.paths if self.paths is not None else self.files)

    def _class_dict(
        self, path: str, cls: str, attr: str, key: str | None, depth: int
    ) -> tuple[list[str], _Ext]:
        """An element of the class attribute ``cls.attr`` (facts version 11):
        the class's own dict, else the first repository base's that has one
        (a base's dict is not searched past a class that binds the name to
        something else)."""
        facts = self.files.get(path)
        if facts is None or depth > _MAX_ALIAS_HOPS:
            return [], None
        name = f"{cls}.{attr}"
        if name in (facts.get("dicts") or {}):
            return self._dict_at(path, name.split("."), key, depth)
        if name in facts["defs"] or name in (facts.get("class_attrs") or {}):
            return [], None
        info = facts["classes"].get(cls)
        nodes: list[str] = []
        worst: _Ext = None
        for base in info[0] if info is not None else ():
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                if bqual in self.files[bpath]["classes"]:
                    got, ext = self._class_dict(bpath, bqual, attr, key, depth + 1)
                    nodes += [n for n in got if n not in nodes]
                    if ext is not None and _worse(ext[0], worst):
                        worst = ext
        return nodes, worst

    def _instance(self, path: str, name: str, rest: list[str], depth: int) -> list[str]:
        """A module-level ``name = Cls(...)`` (``made``): called, what calling
        the result runs (``Cls.__call__``); ``name.meth(...)``, the method of
        the class it was made by."""
        out: list[str] = []
        key = (path, name, rest[0] if len(rest) == 1 else "")
        if key in self._instance_busy or depth > _MAX_ALIAS_HOPS:
            # A name made from itself (`W = W.float()` then `W.x()`, issue
            # #16) came back here through resolve, which starts at depth 0:
            # a cycle ends here, and no result around it is kept as final.
            self._derived_cuts += 1
            return out
        self._instance_busy.add(key)
        try:
            for ref, _line in (self.files[path].get("made") or {}).get(name, ()):
                if not rest:
                    got = self._derived(path, f"{ref}.()", depth + 1)[0]
                elif len(rest) == 1:
                    got = []
                    for n in self._resolve_at(path, str(ref), depth)[0]:
                        p, q = split_node(n)
                        if q in self.files[p]["classes"]:
                            got += self._method(p, q, rest[0], depth + 1)
                else:
                    got = []
                out += [n for n in got if n not in out]
        finally:
            self._instance_busy.discard(key)
        return out

    def _attr_external(self, path: str, ref: str, qual: str) -> str | None:
        """The external name ``Class.attr`` of ``path`` is bound to (``self.load``
        where the class says ``load = pickle.loads``), noted in ``via``."""
        cls, _, attr = qual.rpartition(".")
        if not cls or cls not in self.files[path]["classes"]:
            return None
        got = self._class_external(path, cls, attr, 0)
        if got is None:
            return None
        self._set_via((path, ref), got[1:])
        return got[0]

    def _class_external(
        self, path: str, cls: str, attr: str, depth: int
    ) -> tuple[str, list[str], str, int] | None:
        """As ``_external``, for a class attribute bound to a name (issue #16:
        ``class IO: load = pickle.loads``), through the repository's base
        classes; the worst sink first (``_worse``)."""
        facts = self.files.get(path)
        if facts is None or depth > _MAX_ALIAS_HOPS:
            return None
        here = f"{display_module(path)}.{cls}.{attr}"
        first: tuple[str, list[str], str, int] | None = None
        worst: tuple[str, list[str], str, int] | None = None
        for ref, line in facts.get("class_attrs", {}).get(f"{cls}.{attr}", ()):
            _nodes, external = self._attr_resolve(path, ref, depth)
            if external is None:
                continue
            via = self._get_via((path, ref))
            got = (
                (external, [here, *via[0]], via[1], via[2])
                if via is not None
                else (external, [here], path, int(line))
            )
            if external in SINKS and _worse(external, worst):
                worst = got
            first = first or got
        if worst is not None:
            return worst
        if first is not None or f"{cls}.{attr}" in facts["defs"]:
            return first
        info = facts["classes"].get(cls)
        for base in info[0] if info is not None else ():
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                if bqual in self.files[bpath]["classes"]:
                    inherited = self._class_external(bpath, bqual, attr, depth + 1)
                    if inherited is not None:
                        return inherited
        return None

    def _attr_resolve(self, path: str, ref: str, depth: int) -> tuple[list[str], str | None]:
        """``resolve`` for a class attribute's ref, one level deeper (a class
        attribute bound to another, or to itself, ends)."""
        tag, _, rest = ref.partition(":")
        if depth > _MAX_ALIAS_HOPS:
            return [], None
        if tag != "B" and rest[-1:] in _MARKS:
            return self._derived(path, ref, depth + 1)  # `self.x = Restore()` (version 10)
        if tag == "I":
            level_s, _, dotted = rest.partition(":")
            return self._imported(path, int(level_s), dotted, depth + 1)
        if tag == "L":
            nodes = self._local(path, rest, depth + 1)
            cls, _, attr = rest.rpartition(".")
            if cls in self.files[path]["classes"]:
                got = self._class_external(path, cls, attr, depth + 1)
                if got is not None:
                    self._set_via((path, ref), got[1:])
                    return nodes, got[0]
            return nodes, None
        return self.resolve(path, ref)

    def via(self, path: str, ref: str) -> tuple[list[str], str, int] | None:
        """For a ref ``resolve`` gave an external name through the repository's
        own modules (``from utils.io import load_blob`` where utils/io.py says
        ``from pickle import loads as load_blob``): the repository names on the
        way, and the path and line of the last binding. None otherwise."""
        return self._via.get((path, ref))

    def reexported(self, path: str, ref: str) -> str | None:
        """The name an import ref of ``path`` reads (``utils._locate`` for
        ``from utils import _locate``) when that module only re-exports it
        (binds it by an import, not a def, class or dict of its own); None
        otherwise. A factory's or a dict's finding names that hop too."""
        tag, _, rest = ref.partition(":")
        if tag != "I":
            return None
        level_s, _, dotted = rest.partition(":")
        found = self._find_module(path, int(level_s), dotted)
        facts = self.files.get(found[0]) if found is not None else None
        if found is None or facts is None or not found[1]:
            return None
        head = found[1][0]
        if head in facts["defs"] or head in (facts.get("dicts") or {}):
            return None
        if not self._bindings(found[0], head) and not self._stars(found[0]):
            return None  # bound otherwise (`x = make()`): not a re-export
        return f"{display_module(found[0])}.{'.'.join(found[1])}"

    def resolve_module(self, path: str, ref: str) -> list[str]:
        """The module an import statement runs (its body node)."""
        tag, _, rest = ref.partition(":")
        if tag != "I":
            return []
        level_s, _, dotted = rest.partition(":")
        found = self._find_module(path, int(level_s), dotted)
        return [node_id(found[0], "<module>")] if found is not None else []

    def _find_module(self, path: str, level: int, dotted: str) -> tuple[str, list[str]] | None:
        """The file a dotted name starts in, and the attributes left after it."""
        key = (path, level, dotted)
        try:
            got = self._found_at[key]
        except KeyError:
            got = self._found_at[key] = self._find_module_of(path, level, dotted)
        return (got[0], list(got[1])) if got is not None else None

    def _find_module_of(
        self, path: str, level: int, dotted: str
    ) -> tuple[str, tuple[str, ...]] | None:
        parts = [p for p in dotted.split(".") if p]
        if level > 0:
            pkg = module_name(path).split(".")
            if not path.endswith("__init__.py"):
                pkg = pkg[:-1]
            if level - 1 > len(pkg):
                return None
            pkg = pkg[: len(pkg) - (level - 1)]
            roots = [pkg]
        else:
            if not parts:
                return None
            roots = self._roots(path, parts[0])
        prefixes = self._prefixes
        for root in roots:
            full = [*root, *parts]
            # Issue #17: a scan asked ``_module`` ~1.2 million times here, for
            # every root of every import of every file, nearly all names of no
            # module (``transformers.models.bert.torch.nn``). Only names up to
            # the longest run of ``full`` that is a module name's prefix can
            # be one: the longer ones are skipped, and a module name is never
            # among them (each of its prefixes is in ``_prefixes``), so the
            # modules asked for, in order, what is found and every file
            # loaded on the way are as before.
            k = len(root)
            name = ".".join(root)
            while k < len(full):
                name = f"{name}.{full[k]}" if k else full[k]
                if name not in prefixes:
                    break
                k += 1
            for n in range(k, len(root), -1):
                hit = self._module(".".join(full[:n]))
                if hit is not None:
                    return hit, tuple(full[n:])
        return None

    def _roots(self, path: str, head: str) -> list[list[str]]:
        """Where ``import head`` may be found, nearest first: the importing
        file's directory and its ancestors (a script's directory is on
        sys.path), then src/-style roots. A standard-library name resolves
        only at the repository root: ``utils/os.py`` is not ``os``."""
        if head in _STDLIB:
            return [[]]
        roots: list[list[str]] = []
        parts = path.strip("/").split("/")[:-1]  # `scan` may name absolute paths
        for n in range(len(parts), 0, -1):
            roots.append(parts[:n])
        roots.append([])
        roots += [[r] for r in _SOURCE_ROOTS]
        return roots

    def _set_via(self, key: tuple[str, str], value: Any) -> None:
        self._via[key] = value
        if self._log:
            self._log[-1].append((True, key, value))

    def _get_via(self, key: tuple[str, str]) -> Any:
        got = self._via.get(key)
        if self._log:
            self._log[-1].append((False, key, got))
        return got

    def _memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered by ``key`` when nothing it saw depends on
        the order of the walk: no ``_derived`` cut short by a cycle or the
        depth, no ``_registered`` result still being filled. Every other
        lookup it makes is cached as it was, so a second walk finds the same
        unless a ``_via`` entry it read has changed since: a hit replays the
        walk's ``_via`` writes and checks its reads, in order, and walks again
        at the first read that differs (issue #17: exactly as before)."""
        hit = self._memo_at.get(key)
        if hit is not None:
            for write, k, v in hit[1]:
                if write:
                    self._set_via(k, v)
                elif self._get_via(k) != v:
                    break
            else:
                return hit[0]
        cuts, clean = self._derived_cuts, not self._regs_busy
        self._log.append([])
        try:
            got = compute()
        finally:
            events = self._log.pop()
            if self._log:
                self._log[-1] += events
        if clean and cuts == self._derived_cuts:
            self._memo_at[key] = (got, events)
        return got

    def _imported(
        self, path: str, level: int, dotted: str, depth: int
    ) -> tuple[list[str], str | None]:
        nodes, external = self._memo(
            ("i", path, level, dotted, depth),
            lambda: self._imported_of(path, level, dotted, depth),
        )
        return list(nodes), external

    def _imported_of(
        self, path: str, level: int, dotted: str, depth: int
    ) -> tuple[tuple[str, ...], str | None]:
        found = self._find_module(path, level, dotted)
        external = dotted if level == 0 else None
        if found is None:
            return (), external
        target, attrs = found
        nodes = tuple(self._in_module(target, attrs, depth))
        # A repository name bound to an external one (issue #16: a re-exported
        # `pickle.loads` called by another file, where no file shows both).
        got = self._external(target, attrs, depth) if attrs else None
        if got is not None:
            self._set_via((path, f"I:{level}:{dotted}"), got[1:])
            return nodes, got[0]
        return nodes, (external if not nodes else None)

    def _bindings(self, path: str, head: str) -> list[tuple[str, int]]:
        """The import refs (and lines) a module-level name of ``path`` may hold,
        in any branch; a def or class written at top level replaces those bound
        before it, not one bound after it (an import may rebind it). Shared:
        not to be changed."""
        key = (path, head)
        got = self._binds_at.get(key)
        if got is None:
            got = self._binds_at[key] = self._bindings_of(path, head)
        return got

    def _bindings_of(self, path: str, head: str) -> list[tuple[str, int]]:
        facts = self.files[path]
        at = facts.get("alias_at")
        if at is None:  # facts without lines (a notebook's are current too)
            alias = facts["aliases"].get(head)
            binds = [(str(alias), 0)] if alias is not None else []
        else:
            binds = [(str(r), int(n)) for r, n in at.get(head, ())]
        binds = [b for b in binds if b[0].startswith("I:")]
        own = facts["defs"].get(head)
        if own is not None and head not in facts.get("cond", ()):
            binds = [b for b in binds if b[1] > int(own[1])]
        return binds

    def _external(
        self, path: str, attrs: list[str], depth: int
    ) -> tuple[str, list[str], str, int] | None:
        key = ("e", path, tuple(attrs))
        if key in self._names_busy:
            self._derived_cuts += 1  # a cycle of re-exports, as in ``_in_module``
            return None
        self._names_busy.add(key)
        try:
            got: tuple[str, list[str], str, int] | None = self._memo(
                (*key, depth), lambda: self._external_of(path, attrs, depth)
            )
        finally:
            self._names_busy.discard(key)
        return got

    def _external_of(
        self, path: str, attrs: list[str], depth: int
    ) -> tuple[str, list[str], str, int] | None:
        """The external dotted name ``attrs`` of module ``path`` is bound to
        through its imports (any number of re-exports, every branch; the worst sink
        first): (name, the repository names on the way, path and line of the
        last binding). None when it is the repository's own object."""
        facts = self.files.get(path)
        if facts is None or not attrs:
            return None
        if depth > _MAX_REEXPORT_HOPS:
            self._too_long(path)
            return None
        head = attrs[0]
        cls = ".".join(attrs[:-1])
        if len(attrs) > 1 and cls in facts["classes"]:
            return self._class_external(path, cls, attrs[-1], depth + 1)
        here = f"{display_module(path)}.{head}"
        # (ref, line, the attributes looked up in what it binds)
        ways = [(ref, line, attrs[1:]) for ref, line in self._bindings(path, head)]
        if not ways and head not in facts["defs"] and head not in facts["aliases"]:
            ways = [(ref, line, attrs) for ref, line in self._stars(path)]
            # and what a module `__getattr__` returns (PEP 562, as ``_module_getattr``)
            rets = (facts.get("rets") or {}).get("__getattr__", ()) if not ways else ()
            ways = ways or [(str(r), int(n), attrs[1:]) for r, n in rets if str(r)[:2] == "I:"]
        first: tuple[str, list[str], str, int] | None = None
        worst: tuple[str, list[str], str, int] | None = None
        for ref, line, rest in ways:
            level_s, _, dotted = ref[2:].partition(":")
            found = self._find_module(path, int(level_s), dotted)
            got: tuple[str, list[str], str, int] | None = None
            if found is None:
                if level_s == "0":
                    got = (".".join([dotted, *rest]), [here], path, line)
            else:
                inner = self._external(found[0], [*found[1], *rest], depth + 1)
                if inner is not None:
                    got = (inner[0], [here, *inner[1]], inner[2], inner[3])
            if got is not None and got[0] in SINKS and _worse(got[0], worst):
                worst = got
            if rest is not attrs:  # a star import names only what it has
                first = first or got
        return worst if worst is not None else first

    def _stars(self, path: str) -> list[tuple[str, int]]:
        """The module-level ``from m import *`` of ``path`` (ref, line). Shared:
        not to be changed."""
        got = self._stars_at.get(path)
        if got is None:
            got = self._stars_at[path] = [
                (str(r), int(n)) for r, n in self.files[path].get("stars", ())
            ]
        return got

    def _in_module(self, path: str, attrs: list[str], depth: int) -> list[str]:
        key = ("m", path, tuple(attrs))
        if key in self._names_busy:
            # A cycle of re-exports: what its names hold is being collected
            # by the walk that entered it first. Cut, so nothing found on the
            # way is remembered as final (``_memo``).
            self._derived_cuts += 1
            return []
        self._names_busy.add(key)
        try:
            got: tuple[str, ...] = self._memo(
                (*key, depth),
                lambda: tuple(self._in_module_of(path, attrs, depth)),
            )
        finally:
            self._names_busy.discard(key)
        return list(got)

    def _in_module_of(self, path: str, attrs: list[str], depth: int) -> list[str]:
        if depth > _MAX_REEXPORT_HOPS:
            self._too_long(path)
            return []
        facts = self.files[path]
        if not attrs:
            return [node_id(path, "<module>")]
        head = attrs[0]
        classes = facts["classes"]
        nodes: list[str] = []
        if head in classes:
            if len(attrs) == 1:
                nodes = [node_id(path, head)]
            else:
                # `A.meth`, or `A.B.meth` for a class nested in a class body
                cls = ".".join(attrs[:-1])
                nodes = self._method(path, cls, attrs[-1], depth) if cls in classes else []
        elif head in facts["defs"] and len(attrs) == 1:
            nodes = [node_id(path, head)]
        elif head in facts["defs"] and len(attrs) == 2:
            # `get_store().restore(p)` (a def's result, session 27); the name
            # may also be bound otherwise, as for any other name
            nodes = self._returned_attr(path, head, attrs[1], depth)
            return nodes + [n for n in self._in_alias(path, attrs, depth) if n not in nodes]
        elif head in (facts.get("made") or {}):
            nodes = self._instance(path, head, attrs[1:], depth)
            return nodes + [n for n in self._in_alias(path, attrs, depth) if n not in nodes]
        elif _element_attr(attrs) and head in (facts.get("dicts") or {}):
            return self._element_attr(path, attrs, depth)
        else:
            return self._in_alias(path, attrs, depth)
        if (
            head in facts.get("cond", ())
            or self._bindings(path, head)
            or self._own_binds(path, head)
        ):
            # Defined in a block (`if`, `try`, ...) that may not run, or
            # imported (or bound to another def: `load = _load`) again after
            # the def: what the name is without it counts too (issue #16).
            nodes += [n for n in self._in_alias(path, attrs, depth) if n not in nodes]
        return nodes

    def _too_long(self, path: str) -> None:
        """Not a cycle (``_in_module`` and ``_external`` end those): a chain
        of re-exports longer than the limit, cut at ``path``. Reported, not
        dropped (issue #16: fail closed), as a call chain past ``MAX_DEPTH`` is."""
        got = node_id(path, "<module>")
        if got not in self.truncated:
            self.truncated.append(got)

    def _own_binds(self, path: str, head: str) -> list[str]:
        """The file's own names a module-level ``head`` is bound to, in any
        branch (``load = _load``, ``load = Codec.decode``: facts version 15,
        issue #16), as dotted names of the file; not ``head`` itself."""
        facts = self.files[path]
        at = facts.get("alias_at")
        if at is None:
            alias = facts["aliases"].get(head)
            refs = [str(alias)] if alias is not None else []
        else:
            refs = [str(r) for r, _n in at.get(head, ())]
        return [r[2:] for r in refs if r.startswith("L:") and r[2:] != head]

    def _in_alias(self, path: str, attrs: list[str], depth: int) -> list[str]:
        """``attrs`` through the file's imports of ``attrs[0]`` (each branch's:
        a harmless twin does not hide the other), or its submodule."""
        facts = self.files[path]
        head = attrs[0]
        alias = facts["aliases"].get(head)
        binds = self._bindings(path, head)
        out: list[str] = []
        # `load = _load` (a def of the file under another name, issue #16):
        # what the def is, beside any import of the name.
        for own in self._own_binds(path, head):
            got = self._in_module(path, [*own.split("."), *attrs[1:]], depth + 1)
            out += [n for n in got if n not in out]
        if binds or (alias is not None and alias.startswith("I:")) or out:
            for ref, _line in binds:
                level_s, _, dotted = ref[2:].partition(":")
                found = self._find_module(path, int(level_s), dotted)
                if found is not None:
                    got = self._in_module(found[0], [*found[1], *attrs[1:]], depth + 1)
                    out += [n for n in got if n not in out]
            return out
        sub = self._module(f"{module_name(path)}.{head}")
        if sub is not None:
            return self._in_module(sub, attrs[1:], depth + 1)
        for ref, _line in self._stars(path):  # `from .io import *` in a package
            level_s, _, dotted = ref[2:].partition(":")
            found = self._find_module(path, int(level_s), dotted)
            if found is not None:
                got = self._in_module(found[0], [*found[1], *attrs], depth + 1)
                out += [n for n in got if n not in out]
        if not out and head not in facts["defs"]:
            out = self._module_getattr(path, attrs, depth)
        return out

    def _module_getattr(self, path: str, attrs: list[str], depth: int) -> list[str]:
        """A name the module does not bind, read from a module that defines
        ``__getattr__`` (PEP 562, a lazy re-export: `def __getattr__(name):
        from ._impl import load; return load`): any name it returns, by
        import or as a def of the file (issue #16). Which name it returns for
        which attribute is not read: every one may be."""
        facts = self.files[path]
        if "__getattr__" not in facts["defs"]:
            return []
        out: list[str] = []
        for ref, _line in (facts.get("rets") or {}).get("__getattr__", ()):
            ref = str(ref)
            if ref.startswith("I:"):
                level_s, _, dotted = ref[2:].partition(":")
                found = self._find_module(path, int(level_s), dotted)
                if found is None:
                    continue
                got = self._in_module(found[0], [*found[1], *attrs[1:]], depth + 1)
            elif ref.startswith("L:") and "." not in ref[2:]:
                got = self._in_module(path, [ref[2:], *attrs[1:]], depth + 1)
            else:
                continue
            out += [n for n in got if n not in out]
        return out

    def _local(self, path: str, qual: str, depth: int) -> list[str]:
        facts = self.files[path]
        cls, _, meth = qual.rpartition(".")
        if cls in facts["classes"]:
            return self._method(path, cls, meth, depth)  # its own or inherited
        if qual in facts["defs"]:
            return [node_id(path, qual)]
        head, _, rest = qual.partition(".")
        if head in (facts.get("made") or {}):
            return self._instance(path, head, rest.split(".") if rest else [], depth)
        if cls in facts["defs"]:
            return self._returned_attr(path, cls, meth, depth)  # `get_store().restore`
        if _element_attr(qual.split(".")) and head in (facts.get("dicts") or {}):
            return self._element_attr(path, qual.split("."), depth)
        return []

    def _element_attr(self, path: str, attrs: list[str], depth: int) -> list[str]:
        """``X.[key].attr``: ``attr`` of an element of the container ``X`` of
        ``path`` (session 27: `for cls in LOADERS: cls().load(p)`, `cls.from_file(p)`):
        a class's method (its own or a repository base's), or what a def's
        result holds (``_returned_attr``)."""
        key = attrs[1][1:-1] or None
        out: list[str] = []
        for n in self._dict_at(path, attrs[:1], key, depth + 1)[0]:
            p, q = split_node(n)
            facts = self.files[p]
            if q in facts["classes"]:
                got = self._method(p, q, attrs[2], depth + 1)
            elif q in facts["defs"]:
                got = self._returned_attr(p, q, attrs[2], depth + 1)
            else:
                got = []
            out += [m for m in got if m not in out]
        return out

    def _returned_attr(self, path: str, qual: str, attr: str, depth: int) -> list[str]:
        """``attr`` of what the def ``qual`` returns (session 27: a singleton
        made at module level and handed out by a getter, `get_store().restore(p)`;
        a metaclass a function makes, `metaclass=make_meta()`): a name it
        returns (``rets``: an instance made at module level, a class) or a
        call's result (``returns``: `return CkptStore(root)`, another such
        def), as ``name.attr`` would be there."""
        facts = self.files[path]
        key = ("r", path, (qual, attr))
        if key in self._names_busy or depth > _MAX_ALIAS_HOPS:
            self._derived_cuts += 1  # `def f(): return f()`: ends here, not final
            return []
        self._names_busy.add(key)
        try:
            out: list[str] = []
            for table in ("rets", "returns"):
                for ref, _line in (facts.get(table) or {}).get(qual, ()):
                    ref = str(ref)
                    if ref[:2] not in ("L:", "I:") or ref[-1:] in (")", "*", "@"):
                        continue  # a builtin, a call's result: no attribute known
                    # (an element, `return LOADERS[k]`, is ``_element_attr``'s)
                    got = self._attr_resolve(path, f"{ref}.{attr}", depth + 1)[0]
                    out += [n for n in got if n not in out]
            return out
        finally:
            self._names_busy.discard(key)

    def _method(self, path: str, cls: str, meth: str, depth: int) -> list[str]:
        """``cls.meth`` through the repository's base classes (never an
        external base: a restricted Unpickler's inherited load is not a sink)."""
        facts = self.files.get(path)
        if facts is None or depth > _MAX_ALIAS_HOPS:
            return []
        out: list[str] = []
        qual = f"{cls}.{meth}"
        bound = facts.get("class_attrs", {}).get(qual, ())
        for ref, _line in bound:
            # `load = staticmethod(load_blob)` (issue #16); either may be it
            out += [n for n in self._attr_resolve(path, ref, depth)[0] if n not in out]
        if qual in facts["defs"]:
            out.append(node_id(path, qual))
            if qual not in facts.get("cond", ()):
                return out
            # A method in a block (`if False:`) may not exist: the bases' too.
        if bound:
            return out
        info = facts["classes"].get(cls)
        if info is None:
            return out
        for base in info[0]:
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                if bqual in self.files[bpath]["classes"]:
                    out += self._method(bpath, bqual, meth, depth + 1)
        return out

    def _specials(self, path: str, cls: str, depth: int) -> set[str]:
        """The special methods (``__enter__``, ``__iter__``, ``__del__``, ...) that
        ``cls`` or a repository base binds: made, the instance may run any of
        them implicitly. Not ``__call__`` (run by a call: version 10) nor what
        runs before the instance exists (``__init__``, ``__new__``,
        ``__init_subclass__``, ``__class_getitem__``)."""
        facts = self.files.get(path)
        info = None if facts is None else facts["classes"].get(cls)
        if facts is None or info is None or depth > _MAX_ALIAS_HOPS:
            return set()
        own = self._own_specials.get(path)
        if own is None:
            own = self._own_specials[path] = {}
            for q in [*facts["defs"], *facts.get("class_attrs", {})]:
                owner, _, name = q.rpartition(".")
                if owner and _special(name):
                    own.setdefault(owner, set()).add(name)
        out = set(own.get(cls, ()))
        for base in info[0]:
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                out |= self._specials(bpath, bqual, depth + 1)
        return out

    def _inherited_meta(self, path: str, cls: str, depth: int) -> list[str]:
        """A metaclass's ``__call__`` that a repository base names
        (``class Sub(EvalJob)``, ``EvalJob(metaclass=JobMeta)``): the subclass
        has that metaclass, so ``Sub(...)`` runs it (version 18). The base's
        own record (facts ``_class_statement``) is a call of the base."""
        facts = self.files.get(path)
        info = None if facts is None else facts["classes"].get(cls)
        if info is None or depth > _MAX_ALIAS_HOPS:
            return []
        out: list[str] = []
        for base in info[0]:
            for bnode in self.resolve(path, base)[0]:
                bpath, bqual = split_node(bnode)
                index = self._file(bpath)
                for _i, call in index.calls.get(bqual, ()) if index is not None else ():
                    if str(call[1]).endswith(".__call__"):
                        out += [n for n in self.resolve(bpath, call[1])[0] if n not in out]
                out += [n for n in self._inherited_meta(bpath, bqual, depth + 1) if n not in out]
        return out

    def _unpickler(self, path: str, cls: str, depth: int) -> bool | None:
        """None when ``cls`` does not derive from an Unpickler; else whether the
        nearest ``find_class`` on the way to it can raise (a restricted one)."""
        info = self.files[path]["classes"].get(cls)
        if info is None or depth > _MAX_ALIAS_HOPS:
            return None
        bases, find_class = info
        for base in bases:
            nodes, external = self.resolve(path, base)
            inherited: bool | None = False if external in _UNPICKLERS else None
            for bnode in nodes:
                bpath, bqual = split_node(bnode)
                got = self._unpickler(bpath, bqual, depth + 1)
                if got is not None:
                    inherited = got
                    break
            if inherited is not None:
                return bool(find_class) if find_class is not None else inherited
        return None

    # -- the graph ----------------------------------------------------------

    def build(self) -> None:
        """The whole graph: every function of every file (parses them all)."""
        starts: list[str] = []
        for path, facts in self.files.items():
            starts += [node_id(path, q) for q in facts["defs"]]
            starts += [node_id(path, c[0]) for c in facts["calls"]]
        self.explore(starts)

    def explore(self, starts: Iterable[str]) -> None:
        """Link what ``starts`` reach (forward, parsing files on demand), then
        find their chains to sinks. Exact: a chain from a start node lies in
        its forward closure, and each node there carries all its out-edges.
        After ``stream_file``, the callers it linked up front are passed
        through, and those the starts do not reach are dropped: the graph is
        the one the starts alone give (the same chains, the same depth
        reports)."""
        streaming = bool(self._early)
        stack = [self._node(n) for n in starts]
        seen: set[str] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node not in self.edges:
                self._expand(node)
            elif not streaming:
                continue  # linked by an earlier explore: its closure is there
            stack += self.edges[node]
            stack += self._named_of(node)  # looked up, not called (session 28)
        if streaming:
            self._prune(seen)
        self._reach()
        if streaming:
            # Only the chains (hops, cond) and the signatures are read now.
            self._index.clear()
            self._deferred.clear()
            self.edges, self._ecalls, self._ids = {}, {}, {}

    def stream_file(self, path: str, facts: Mapping[str, Any], on_call: OnCall) -> None:
        """``scan`` (issue #17: memory): resolve every call of ``path`` once, in
        order, telling ``on_call`` (call, nodes, external), and link each
        caller from it, so that the file's calls need not be kept. A class's
        own links (``__init__``, bases) are made first when a search reaches
        it (``_expand``), its calls' links after them, as before."""
        self._streamed.add(path)
        index = _FileIndex.of(facts)
        recs: dict[str, list[_Rec]] = {}
        for i, call in enumerate(facts["calls"]):
            rec, external = self._record(path, index.params, i, call)
            on_call(call, rec[3], external)
            recs.setdefault(call[0], []).append(rec)
        rank = self._rank.get(path, len(self._rank))
        for qual, got in recs.items():
            node = self._node(node_id(path, qual))
            defined = index.defs.get(qual)
            if defined is None:
                self._first_call[node] = got[0][0]
            if defined is not None and defined[1] == "class":
                self._deferred[node] = got
            elif node not in self.edges:
                self._link(node, rank, {}, got)
                self._early.add(node)

    def _prune(self, keep: set[str]) -> None:
        for node in [n for n in self._early if n not in keep]:
            del self.edges[node], self._ecalls[node]
            self.direct.pop(node, None)
            self._cond_direct.pop(node, None)
            self._order.pop(node, None)
        self._early.clear()

    def _node(self, node: str) -> str:
        """One string per node id (issue #17: a scan links ~10^5 nodes)."""
        return self._ids.setdefault(node, node)

    def _file(self, path: str) -> _FileIndex | None:
        got = self._index.get(path)
        if got is None:
            facts: Mapping[str, Any] | None = self.files.get(path)
            if facts is None:
                return None
            if "calls" not in facts and path not in self._streamed:
                # Slimmed (a blob streamed under another path): read again.
                facts = self.full(path) if self.full is not None else None
                if facts is None:
                    raise RuntimeError(f"reach: the facts of {path} could not be read again")
            got = self._index[path] = _FileIndex.of(facts)
        return got

    def _record(
        self, path: str, params: Mapping[str, Any], i: int, call: Call
    ) -> tuple[_Rec, str | None]:
        """What call ``i`` of ``path`` links to: (the record ``_link`` applies,
        the external name)."""
        qual, ref, line, _col, _end, flags = call
        nodes, external = self.resolve_call(path, ref, flags)
        kind = sink_kind(external, flags)
        param = self._true_param(params, qual, flags) if kind == "torch-load" else None
        if kind == "dynamic-import":
            # Session 28: judged by where the name comes from (names.py).
            verdict = self.dyn_verdict(path, qual, ref, flags)
            if verdict == SAFE:
                kind = None
            elif verdict != UNSAFE:
                param = verdict
        label = ""
        if kind is not None:
            via = self._via.get((path, ref))
            # A re-exported sink is named by the name the file calls it by.
            label = " -> ".join([*via[0], str(external)]) if via else str(external)
        return (i, line, flags, [self._node(n) for n in nodes], kind, label, param), external

    def resolve_call(
        self, path: str, ref: str, flags: Mapping[str, Any]
    ) -> tuple[list[str], str | None]:
        """What a recorded call of ``path`` may run: an import runs a module; a
        function kept in a container (version 18) is a function, never a class
        or a property."""
        if flags.get("imp"):
            return self.resolve_module(path, ref), None
        nodes, external = self.resolve(path, ref)
        kept = flags.get("kp")
        if kept:
            nodes = [n for n in nodes if not self._not_kept(n, kept == 2)]
        return nodes, external

    def _not_kept(self, node: str, made: bool) -> bool:
        """A property getter is no function a container keeps (named in a
        display, it is read there: ``pr``), nor a class in a display (an
        ``isinstance`` tuple, a list of layer types: kept, not made); a class
        appended (``made``) is made by what reads the list (a plugin registry)."""
        npath, qual = split_node(node)
        facts = self.files.get(npath)
        if facts is None:
            return False
        props = facts.get("props") or {}
        getters = {r for refs in props.values() for r in refs}
        is_class = facts["defs"].get(qual, ("",))[0] == "class"
        return (is_class and not made) or f"L:{qual}" in getters

    def _expand(self, node: str) -> None:
        """The edges and direct sinks ``build`` gave ``node`` before issue #17."""
        path, qual = split_node(node)
        index = self._file(path)
        if index is None:
            self.edges[node], self._ecalls[node] = (), ()
            return
        rank = self._rank.get(path, len(self._rank))
        defined = index.defs.get(qual)
        out: dict[str, _Edge] = {}
        if defined is not None and defined[1] == "class":
            for t in self._method(path, qual, "__init__", 0):
                out.setdefault(self._node(t), _Edge())
            for t in self._method(path, qual, "__new__", 0):
                out.setdefault(self._node(t), _Edge())
            # Session 26: an instance's special methods run with no call written
            # (``with C():``, ``for _ in C()``, f"{c}", ``{c: 1}``, ``del c``).
            for meth in sorted(self._specials(path, qual, 0)):
                for t in self._method(path, qual, meth, 0):
                    out.setdefault(self._node(t), _Edge())
            for t in self._inherited_meta(path, qual, 0):
                out.setdefault(self._node(t), _Edge())
            if self._unpickler(path, qual, 0) is False:
                self._direct(
                    node, "pickle", "pickle.Unpickler (no restricting find_class)", defined[2]
                )
                self._order.setdefault(node, (rank, 0, defined[0]))
        recs = self._deferred.pop(node, None)
        if recs is None:
            recs = [self._record(path, index.params, i, c)[0] for i, c in index.calls.get(qual, ())]
            if defined is None and recs:
                self._first_call[node] = recs[0][0]
        self._link(node, rank, out, recs)

    def _link(self, node: str, rank: int, out: dict[str, _Edge], recs: list[_Rec]) -> None:
        """Apply a caller's call records, in order, after ``out`` (its class
        links); store its edges sorted, each with its first line and calls."""
        for i, line, flags, nodes, kind, label, param in recs:
            for t in nodes:
                edge = out.get(t)
                if edge is None:
                    edge = out[t] = _Edge()
                edge.calls += (line, flags)
            if param is not None:
                self._cond_direct.setdefault(node, {}).setdefault(param, (label, line))
                self._order.setdefault(node, (rank, 1, i))
            elif kind is not None:
                self._direct(node, kind, label, line)
                self._order.setdefault(node, (rank, 1, i))
        if not out:
            self.edges[node], self._ecalls[node] = (), ()
            return
        targets = tuple(sorted(out))
        self.edges[node] = targets
        self._ecalls[node] = tuple(
            x for j, t in enumerate(targets) for x in _indexed(j, out[t].calls)
        )

    def sink_calls(self, node: str) -> list[tuple[str, str]]:
        """(kind, label) of every sink call ``node`` makes itself, the label
        naming what the sink was reached through (a re-export, a function's
        returned lookup); ``direct`` keeps the first per kind. For ``via:``
        exemptions (reach/via.py, issue #16), never in a streamed scan."""
        path, qual = split_node(node)
        index = self._file(path)
        if index is None:
            return []
        recs = [self._record(path, index.params, i, c)[0] for i, c in index.calls.get(qual, ())]
        return [(r[4], r[5]) for r in recs if r[4] is not None]

    def edge_calls(self, src: str, target: str) -> list[tuple[int, Flags]]:
        """(line, flags) of each call ``src`` makes on its edge to ``target``."""
        targets = self.edges.get(src, ())
        if target not in targets:
            return []
        j, flat = targets.index(target), self._ecalls[src]
        return [(flat[k + 1], flat[k + 2]) for k in range(0, len(flat), 3) if flat[k] == j]

    def _first_lines(self, src: str) -> dict[int, int]:
        """Each edge's first call line, by the target's index."""
        flat = self._ecalls[src]
        out: dict[int, int] = {}
        for k in range(0, len(flat), 3):
            out.setdefault(flat[k], flat[k + 1])
        return out

    @staticmethod
    def _true_param(params: Mapping[str, Any], qual: str, flags: Flags) -> str | None:
        """The parameter ``weights_only=`` forwards, when it defaults to True."""
        wop = flags.get("wop")
        sig = params.get(qual, {}).get(wop) if isinstance(wop, str) else None
        return wop if sig is not None and sig[1] is True else None

    def _default(self, node: str, param: str) -> Any:
        got = self.sig(node, param)
        return got[1] if got is not None else None

    def tuple_len(self, node: str, ref: str) -> int | None:
        """The length of the tuple a call of ``ref`` (made in ``node``'s file)
        always returns: every repository function it may resolve to has the
        same facts ``tl``; None for anything else (an external name)."""
        path = split_node(node)[0]
        nodes, external = self.resolve(path, ref)
        lens: set[int] = set()
        for n in nodes:
            p, qual = split_node(n)
            got = (self.files.get(p, {}).get("tl") or {}).get(qual)
            if got is None:
                return None
            lens.add(int(got))
        return lens.pop() if external is None and len(lens) == 1 else None

    def sig(self, node: str, param: str) -> list[Any] | None:
        path, qual = split_node(node)
        facts = self.files.get(path)
        if facts is None:
            return None
        got: list[Any] | None = (facts.get("params") or {}).get(qual, {}).get(param)
        return got

    def _direct(self, node: str, kind: str, sink: str, line: int) -> None:
        self.direct.setdefault(node, {}).setdefault(kind, (sink, line))

    def _edge_order(self, node: str, positions: dict[str, dict[str, int]]) -> tuple[int, int, int]:
        """Where ``build`` used to list ``node``: file order, then its defs in
        order, then other callers by first call. Ties between equally short
        chains are broken as before, so messages are unchanged."""
        path, qual = split_node(node)
        rank = self._rank.get(path, len(self._rank))
        pos = positions.get(path)
        if pos is None:
            facts = self.files.get(path)
            if facts is None:
                return (rank, 2, 0)
            pos = positions[path] = {q: i for i, q in enumerate(facts["defs"])}
        if qual in pos:
            return (rank, 0, pos[qual])
        return (rank, 1, self._first_call.get(node, 0))

    def _reach(self) -> None:
        reverse: dict[str, list[tuple[str, int]]] = {}
        positions: dict[str, dict[str, int]] = {}
        for src in sorted(self.edges, key=lambda n: self._edge_order(n, positions)):
            lines = self._first_lines(src)
            for j, t in enumerate(self.edges[src]):
                reverse.setdefault(t, []).append((src, lines.get(j) or self._def_line(src)))
        kinds = {k for d in self.direct.values() for k in d}
        self._reached, self._pending = False, []
        acts = self._conditional(reverse)
        kinds |= {_cond_kind(hop.param) for _lvl, _n, hop in acts}
        seeds = sorted(self.direct, key=lambda n: self._order.get(n, (0, 0, 0)))
        for kind in sorted(kinds):
            mine = [a for a in acts if _cond_kind(a[2].param) == kind]
            self._bfs(kind, seeds, reverse, mine)
        self._reached = True
        # Names of repository functions handed to a lookup (session 28): the
        # callers of those that reach a sink reach the lookup's sink too;
        # again until no more do (a named function may reach only by a name).
        while self._pending:
            extra = [(lvl, n, h) for lvl, n, h, ts in self._pending if self._any_reach(ts)]
            if not extra:
                break
            self._pending = [p for p in self._pending if not self._any_reach(p[3])]
            self._bfs("dynamic-import", seeds, reverse, extra)
        self._pending = []

    def _bfs(
        self,
        kind: str,
        seeds: list[str],
        reverse: dict[str, list[tuple[str, int]]],
        acts: list[tuple[int, str, Hop]],
    ) -> None:
        """Shortest chains to ``kind``, level by level (the FIFO order of a
        plain BFS); ``acts`` (level, node, hop) join at their level, after the
        level's ordinary nodes."""
        frontier: list[str] = []
        for node in seeds:
            d = self.direct[node]
            if kind in d:
                sink, line = d[kind]
                self.hops.setdefault(node, {})[kind] = Hop(None, sink, line)
                frontier.append(node)
        last = max((lvl for lvl, _n, _h in acts), default=0)
        level = 0
        while frontier or level < last:
            nxt: list[str] = []
            for node in frontier:
                for pred, line in reverse.get(node, ()):
                    if kind in self.hops.get(pred, {}):
                        continue
                    if level + 1 > MAX_DEPTH:
                        self.truncated.append(pred)
                        continue
                    self.hops.setdefault(pred, {})[kind] = Hop(node, "", line)
                    nxt.append(pred)
            for lvl, pred, hop in acts:
                if lvl == level + 1 and kind not in self.hops.get(pred, {}):
                    self.hops.setdefault(pred, {})[kind] = hop
                    nxt.append(pred)
            frontier = nxt
            level += 1

    def _conditional(self, reverse: dict[str, list[tuple[str, int]]]) -> list[tuple[int, str, Hop]]:
        """Fill ``cond`` from the conditional loads, breadth first; return the
        callers that pass a True-default ``weights_only`` parameter something
        else, each with its level (hops to the load) and first hop."""
        queue: deque[tuple[str, str, int]] = deque()
        for node in sorted(self._cond_direct, key=lambda n: self._order.get(n, (0, 0, 0))):
            for param, (sink, line) in self._cond_direct[node].items():
                self.cond.setdefault(node, {})[param] = Hop(None, sink, line)
                queue.append((node, param, 0))
        acts: list[tuple[int, str, Hop]] = []
        while queue:
            node, param, dist = queue.popleft()
            sig = self.sig(node, param)
            for pred, eline in reverse.get(node, ()):
                if dist + 1 > MAX_DEPTH:
                    self.truncated.append(pred)
                    continue
                # An edge with no call of its own (a class to its __init__)
                # passes what is unknown here: unsafe, as before.
                calls = self.edge_calls(pred, node)
                if not calls and param.startswith(_NAME) and self._made_by(pred, node):
                    # `Cls(...)` runs `__init__` with what the call passes
                    # (session 28: names only; weights_only as before).
                    self._init_of[pred] = node
                    calls = [(eline, {"nc": {param[len(_NAME) :]: param[len(_NAME) :]}})]
                for line, flags in calls or [(eline, {"star": 1})]:
                    if param.startswith(_NAME):
                        got = self._passed_name(pred, node, param, flags)
                        named = (
                            self._name_targets(pred, node, param, flags) if got != UNSAFE else []
                        )
                        if named:
                            self._pending.append(
                                (dist + 1, pred, Hop(node, "", line, param), named)
                            )
                    else:
                        got = passed(flags, sig, param, partial(self.tuple_len, pred))
                        if got not in (SAFE, UNSAFE) and self._default(pred, got) is not True:
                            got = UNSAFE  # its own default is not True (after all)
                    if got == UNSAFE:
                        acts.append((dist + 1, pred, Hop(node, "", line, param)))
                    elif got != SAFE and got not in self.cond.get(pred, {}):
                        self.cond.setdefault(pred, {})[got] = Hop(node, "", line, param)
                        queue.append((pred, got, dist + 1))
        acts.sort(key=lambda a: a[0])  # stable: BFS order within a level
        return acts

    def _def_line(self, node: str) -> int:
        path, qual = split_node(node)
        got = self.files.get(path, {}).get("defs", {}).get(qual)
        return int(got[1]) if got else 1

    def chain(
        self, node: str, kind: str, param: str | None = None
    ) -> tuple[list[str], str, str, int]:
        """(the functions from ``node`` on, the sink, the sink's path and line);
        from ``cond[node][param]`` when ``param`` is given."""
        names: list[str] = []
        seen: set[tuple[str, str | None]] = set()
        cur: str | None = node
        while cur is not None and (cur, param) not in seen:
            seen.add((cur, param))
            hop = self.cond[cur][param] if param is not None else self.hops[cur][kind]
            names.append(cur)
            if hop.next is None:
                return names, hop.sink, split_node(cur)[0], hop.line
            cur, param = hop.next, hop.param
        raise RuntimeError(f"broken chain from {node} ({kind})")  # pragma: no cover

    def kinds(self, nodes: Iterable[str]) -> dict[str, str]:
        """kind -> the first of ``nodes`` that reaches a sink of that kind."""
        out: dict[str, str] = {}
        for n in nodes:
            for k in self.hops.get(n, {}):
                out.setdefault(k, n)
        return out

    def call_kinds(
        self, nodes: list[str], flags: Flags, caller: str
    ) -> dict[str, tuple[str, str | None]]:
        """``kinds`` for a call with ``flags`` made by ``caller``: kind -> (node,
        param for ``chain``), with torch-load also when the call passes a
        conditional node's parameter something other than a literal True.
        Forwarding the caller's own True-default parameter is judged where the
        caller is called."""
        out: dict[str, tuple[str, str | None]] = {
            k: (n, None) for k, n in self.kinds(nodes).items()
        }
        for n in nodes:
            for param in self.cond.get(n, {}):
                kind = _cond_kind(param)
                if kind in out:
                    continue
                if kind == "dynamic-import":
                    if self._passed_name(caller, n, param, flags) == UNSAFE:
                        out[kind] = (n, param)
                    continue
                got = passed(flags, self.sig(n, param), param, partial(self.tuple_len, caller))
                if got == UNSAFE or (got != SAFE and self._default(caller, got) is not True):
                    out[kind] = (n, param)
        return out

    # -- a callable chosen by name: where the name comes from (names.py) ---

    def _made_by(self, cls: str, init: str) -> bool:
        """``init`` is the ``__init__`` a call of the class ``cls`` runs."""
        path, qual = split_node(cls)
        if init.rpartition("::")[2].rpartition(".")[2] != "__init__":
            return False
        facts = self.files.get(path)
        return facts is not None and facts["defs"].get(qual, ("",))[0] == "class"

    def name_sig(self, node: str, param: str) -> list[Any] | None:
        init = self._init_of.get(node)
        if init is not None:
            # A class called: its `__init__`'s parameter, `self` bound.
            sig = self.name_sig(init, param)
            return [sig[0] - 1 if sig[0] else sig[0], sig[1], 0] if sig else None
        path, qual = split_node(node)
        got: list[Any] | None = (self.files.get(path, {}).get("np") or {}).get(qual, {}).get(param)
        return got

    def _own_name(self, node: str, param: str) -> str:
        """What ``node``'s own parameter ``param`` stands for when a name it
        was given is handed on: SAFE at a config entry point's config, UNSAFE
        under another decorator or with a harmful default, else conditional."""
        sig = self.name_sig(node, param)
        if sig is None:
            return UNSAFE
        if self._entry(node) and sig[0] == 0:
            return SAFE
        return _NAME + param if sig[1] == 1 else UNSAFE

    def _entry(self, node: str) -> bool:
        """``node`` is decorated by a config entry point only (``@hydra.main``,
        torchtune's ``@config.parse``), resolved through imports: a repository
        function of that name is not one."""
        path, qual = split_node(node)
        decos = (self.files.get(path, {}).get("ne") or {}).get(qual)
        if not decos:
            return False
        for ref in decos:
            if ref is None:
                return False
            nodes, external = self.resolve(path, ref)
            if nodes and set(nodes) <= names.ENTRY_NODES and not self._touched(nodes):
                continue
            if nodes or external not in names.ENTRY_POINTS:
                return False
        return True

    def _touched(self, nodes: list[str]) -> bool:
        """A node is in a file the change adds or modifies: an insider's
        ``torchtune/config/_parse.py`` is no entry point (session 28)."""
        return any(split_node(n)[0] in self.changed for n in nodes)

    def _passed_name(self, pred: str, node: str, param: str, flags: Flags) -> str:
        bare = param[len(_NAME) :]
        got = names.passed_name(dict(flags), self.name_sig(node, bare), bare)
        named = self._name_targets if got != UNSAFE and self._reached else None
        if named is not None and self._any_reach(named(pred, node, param, flags)):
            return UNSAFE  # a repository function by its name: what it reaches
        if got in (SAFE, UNSAFE):
            return got
        return self._own_name(pred, got)

    def _name_targets(self, pred: str, node: str, param: str, flags: Flags) -> list[str]:
        """The repository functions the dotted literals a call passes at a
        name parameter may name (``names.passed_literals``)."""
        bare = param[len(_NAME) :]
        lits = names.passed_literals(dict(flags), self.name_sig(node, bare), bare)
        return self._named(split_node(pred)[0], lits) if lits else []

    def _named(self, path: str, lits: Iterable[str]) -> list[str]:
        """What each dotted name resolves to in the repository, as an absolute
        import of it from ``path`` would (re-exports followed); a re-export
        of a sink counts as its own node (``_any_reach``)."""
        out: list[str] = []
        for lit in lits:
            head, _, rest = lit.partition(".")
            # A directory of the repository may be on sys.path (a script's):
            # `shell.run_tool` is `tools/shell.py`'s too, as `tools.shell.run_tool`.
            deeper = [f"{m}.{rest}" if rest else m for m in self._ending(head)]
            for name in [lit, *deeper[:_MAX_ALIAS_HOPS]]:
                nodes, external = self.resolve(path, f"I:0:{name}")
                out += [self._node(n) for n in nodes]
                if external in SINKS:
                    out.append(f"{_SINK_NODE}{external}")
        return out

    def _ending(self, head: str) -> list[str]:
        """The repository's module names (other than ``head``) ending in ``.head``."""
        if self._last is None:
            self._last = {}
            for name in self._names:
                self._last.setdefault(name.rpartition(".")[2], []).append(name)
        return [m for m in self._last.get(head, ()) if m != head]

    def _any_reach(self, targets: list[str]) -> bool:
        """A lookup of what ``_reach`` found (no second traversal): a target
        reaching a sink, or a conditional one (called by name, with arguments
        nobody judges), or a re-exported sink."""
        return any(
            t.startswith(_SINK_NODE) or self.hops.get(t) or self.cond.get(t) or self._wrapped(t)
            for t in targets
        )

    def _wrapped(self, node: str) -> bool:
        """A def whose name is bound to what a repository decorator (or a
        sink) returns: a wrapper the chains do not show; a library's
        (``functools.lru_cache``, ``torch.no_grad``) is not one."""
        path, qual = split_node(node)
        for reg in (self.files.get(path) or {}).get("regs") or ():
            if reg[0] == qual:
                nodes, external = self.resolve(path, reg[1])
                if nodes or external in SINKS:
                    return True
        return False

    def _names_reach(self, path: str, flags: Flags, sig: list[Any] | None, param: str) -> bool:
        """A factory's lookup given literals that name repository objects
        other than functions that call nothing (``_calls_nothing``). Judged
        while calls are linked (``_record``, ``_judged``), before any
        ``_reach``: by the targets' own facts, the same in every order."""
        targets = self._named(path, names.passed_literals(dict(flags), sig, param))
        return not all(self._calls_nothing(t) for t in targets)

    def _calls_nothing(self, node: str) -> bool:
        """A function whose own calls resolve to no repository function and
        no sink reaches nothing (its facts alone: no traversal)."""
        path, qual = split_node(node)
        index = None if node.startswith(_SINK_NODE) or "." in qual else self._file(path)
        if index is None or index.defs.get(qual, (0, ""))[1] != "func":
            return False  # a class, a method, a module's body, a re-exported sink
        if self._wrapped(node):
            return False
        for _i, (_q, ref, _l, _c, _e, flags) in index.calls.get(qual, ()):
            nodes, external = self.resolve_call(path, ref, flags)
            if nodes or external in SINKS or sink_kind(external, flags) is not None:
                return False
        return True

    def _named_of(self, node: str) -> list[str]:
        """The functions ``node``'s calls name by dotted literals (``nl``, and
        its own parameters' defaults): explored with it, so that their hops
        are known when ``_reach`` looks them up."""
        flat = self._ecalls.get(node, ())
        targets = self.edges.get(node, ())
        path, qual = split_node(node)
        out: list[str] = []
        for k in range(0, len(flat), 3):
            out += self.named_targets(path, flat[k + 2], [targets[flat[k]]])
        lits: list[str] = []
        for sig in ((self.files.get(path, {}).get("np") or {}).get(qual) or {}).values():
            lits += [str(x) for x in sig[3:]]
        return out + [t for t in self._named(path, lits) if not t.startswith(_SINK_NODE)]

    def seeds(self, path: str, flags: Flags, nodes: list[str]) -> list[str]:
        """Where a judged call's search starts: what it runs, and what it names."""
        return [*nodes, *self.named_targets(path, flags, nodes)]

    def named_targets(self, path: str, flags: Flags, callees: Iterable[str]) -> list[str]:
        """The repository functions a call's dotted literals (``nl``) name,
        when one of ``callees`` (what the call runs) takes a name on: a judged
        call's search starts there too. (A factory's ``ni`` is judged by the
        target's own facts: ``_names_reach``.)"""
        nl = flags.get("nl")
        if not nl or not any(self._takes_names(c) for c in callees):
            return []
        lits = [x for xs in nl.values() for x in xs]
        return [t for t in self._named(path, lits) if not t.startswith(_SINK_NODE)]

    def _takes_names(self, node: str) -> bool:
        """``node`` (or the ``__init__`` of the class it is) has a parameter
        that names flow through (``np``): only there is a literal a name."""
        path, qual = split_node(node)
        facts = self.files.get(path)
        if facts is None:
            return False
        if facts["defs"].get(qual, ("",))[0] == "class":
            # its `__init__`, inherited or not
            return any(self._takes_names(n) for n in self._method(path, qual, "__init__", 0))
        return bool((facts.get("np") or {}).get(qual))

    def dyn_verdict(self, path: str, qual: str, ref: str, flags: Flags) -> str:
        """A call of ``builtins.dynattr`` made by ``qual``: SAFE (the name is
        a harmless literal), UNSAFE, or ``n:<param>`` (the name is what
        ``qual``'s parameter is given: judged where ``qual`` is called)."""
        caller = node_id(path, qual)
        if flags.get("dn"):
            return self._own_name(caller, str(flags["dn"]))
        if not ref.endswith(".()") or not flags.get("ni"):
            return UNSAFE
        factories, _external = self.resolve(path, ref[: -len(".()")])
        got: list[str] = []
        for f in factories:
            fpath, fqual = split_node(f)
            p = (self.files.get(fpath, {}).get("dnr") or {}).get(fqual)
            if p is None:
                return UNSAFE
            for inner in flags["ni"]:
                v = names.passed_name(inner, self.name_sig(f, p), p)
                if v != UNSAFE and self._names_reach(path, inner, self.name_sig(f, p), p):
                    v = UNSAFE
                got.append(v if v in (SAFE, UNSAFE) else self._own_name(caller, v))
        if not got or UNSAFE in got:
            return UNSAFE
        conds = {g for g in got if g != SAFE}
        return SAFE if not conds else conds.pop() if len(conds) == 1 else UNSAFE
