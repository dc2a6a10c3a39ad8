"""Trigger values: what in a file is derived from the environment the job runs in.

A trigger is a value an insider can test to make sabotage fire only in
production (issue #16, class 3): an environment variable, the host, the user,
the date, the GPU model, anything else the machine decides (the working
directory, the process id, a file outside the repository, a command's output),
the process's rank or the cluster size. Dates and step thresholds are read in
``dates``. Names are
resolved through the file's imports (``from os import environ as e``), so the
check judges what a value is, not how it is spelled.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections import deque
from collections.abc import Callable, Container, Iterator, Mapping, Set
from typing import TYPE_CHECKING, NamedTuple, Protocol

from traingate.checks.sabotage.dates import (
    FILE_TIME_ATTRS,
    FILE_TIME_CALLS,
    FILETIME,
    date_ctor,
    step_compare,
)
from traingate.checks.sabotage.dates import STEP_NAME as STEP_NAME
from traingate.checks.sabotage.dates import epoch as _epoch
from traingate.checks.sabotage.dates import int_constants as int_constants
from traingate.checks.sabotage.dates import int_literal as int_literal
from traingate.checks.sabotage.dates import last_name as last_name
from traingate.checks.sabotage.nodes import children, statements
from traingate.checks.sabotage.sources import _CALLS as _CALLS
from traingate.checks.sabotage.sources import _MACHINE_ATTR_NAMES, _MACHINE_ATTRS
from traingate.checks.sabotage.sources import ENV as ENV
from traingate.checks.sabotage.sources import GPU as GPU
from traingate.checks.sabotage.sources import HOST as HOST
from traingate.checks.sabotage.sources import JOB as JOB
from traingate.checks.sabotage.sources import MACHINE as MACHINE
from traingate.checks.sabotage.sources import RANDOM as RANDOM
from traingate.checks.sabotage.sources import RANK as RANK
from traingate.checks.sabotage.sources import SIZE as SIZE
from traingate.checks.sabotage.sources import STEP as STEP
from traingate.checks.sabotage.sources import STRONG as STRONG
from traingate.checks.sabotage.sources import TIME as TIME
from traingate.checks.sabotage.sources import USER as USER

if TYPE_CHECKING:
    from traingate.checks.sabotage.events import Table as Events

# Calls that look at a path: a trigger when the path is absolute (outside the
# repository: /etc/cluster-b, /.dockerenv, ~/.prod), so what they answer is the
# machine's. A relative or computed path (a checkpoint directory to resume from)
# is the job's own configuration.
_PROBES = frozenset(
    {"os.path.exists", "os.path.isfile", "os.path.isdir", "os.path.islink", "os.path.lexists"}
    | {"os.path.ismount", "os.path.getsize", "os.access", "os.stat"}
    | FILE_TIME_CALLS
    | {"os.listdir", "os.scandir", "glob.glob", "glob.iglob", "open", "io.open"}
)
_PATH_METHODS = frozenset(
    {"exists", "is_file", "is_dir", "is_symlink", "read_text", "read_bytes", "open", "stat"}
    | {"iterdir", "glob"}
)
_PROBE_NAMES = frozenset(q.rsplit(".", 1)[-1] for q in _PROBES) | _PATH_METHODS | {"expanduser"}
_PATH_CALLS = frozenset(
    {"os.path.join", "posixpath.join", "os.path.expanduser", "os.path.abspath"}
    | {"os.path.realpath", "pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath"}
    | {"os.path.normpath", "os.fspath", "str"}
)
# Path methods whose result starts where the path does: (_SITE / "b").resolve().
_PATH_KEEPS = frozenset({"joinpath", "resolve", "absolute", "expanduser"})
_ENVIRON = frozenset({"os.environ", "os.environb"})
_ENVIRON_ATTRS = frozenset({"environ", "environb"})
# What makes a name or an attribute a source by itself (quiet.py's pre-test).
SOURCE_NAMES = _ENVIRON | _MACHINE_ATTRS
SOURCE_ATTRS = _ENVIRON_ATTRS | _MACHINE_ATTR_NAMES | FILE_TIME_ATTRS
# Attributes and names that hold a rank or a size, whatever object carries them
# (trainer.global_rank, accelerator.process_index, args.local_rank, rank).
_RANK_NAME = re.compile(
    r"^(?:(?:local|global|node|group|dp|tp|pp|data_parallel)_)?rank$|^process_index$|"
    r"^local_process_index$|^is_(?:local_)?main_process$|^is_global_zero$|^is_local_zero$|"
    r"^is_world_process_zero$|^is_local_process_zero$|^get_ordinal$"
)
_SIZE_NAME = re.compile(r"^(?:local_)?world_size$|^num_processes$|^num_nodes$")
_RANK_ENV = re.compile(
    r"^(?:LOCAL_RANK|RANK|GROUP_RANK|NODE_RANK|SLURM_PROCID|SLURM_LOCALID|SLURM_NODEID|"
    r"OMPI_COMM_WORLD_(?:LOCAL_)?RANK|PMI_RANK)$"
)
_SIZE_ENV = re.compile(r"^(?:WORLD_SIZE|LOCAL_WORLD_SIZE|SLURM_NTASKS|SLURM_NNODES)$")
_JOB_ENV = re.compile(r"^(?:SLURM_|PBS_|LSB_|KUBERNETES_|SGE_|CLUSTER|JOB_|HOSTNAME$|USER$)")
# Calls whose result carries their arguments' value (a conversion, a string
# test, tensor arithmetic); any other call (a model, a loader, a constructor)
# makes a new value, so a data path from the environment does not make every
# loss "environment-derived".
_TRANSPARENT = frozenset(
    {
        "int", "float", "bool", "str", "abs", "min", "max", "round", "len", "any", "all",
        "startswith", "endswith", "lower", "upper", "strip", "split", "casefold", "format",
        "get", "isdigit", "item", "mul", "div", "add", "sub", "neg", "clamp", "clip", "where",
        "masked_fill", "half", "full_like", "ones_like", "zeros_like", "tensor",
        "as_tensor", "fromtimestamp", "weekday", "isoweekday", "timestamp", "date",
        "copy", "read", "read_text", "readline", "readlines", "rstrip", "lstrip", "decode",
        # #16 (session 23): a copy, an encoding, a parse or a hash of the value is
        # still it: `dict(os.environ)`, `ip_address(gethostbyname(h))`,
        # `zlib.crc32(host.encode()) % 16`. Not `items`: a LoRA `rank` read in
        # a loop over a config's `.items()` would make every value a trigger
        # (peft's hotswap); os.environ's own views are sources (sources.py).
        "dict", "encode", "ip_address", "ip_interface", "crc32", "adler32", "hash", "md5",
        "sha1", "sha256", "hexdigest", "digest",
    }
)  # fmt: skip


class Trigger(NamedTuple):
    kind: str
    what: str  # how the report names it: "platform.node()", "os.environ['SLURM_JOB_PARTITION']"
    line: int
    # Where the value that makes it a trigger is spelled, when not on ``line``: the
    # constant holding a probed path (``_MARKER = "/etc/cluster-b"``). A hit rests on
    # these lines too, so a change that edits only the constant is reported.
    also: tuple[int, ...] = ()


def read_on(t: Trigger, added: Set[int]) -> bool:
    """Whether the change added a line this trigger is read (or spelled) on."""
    return t.line in added or not added.isdisjoint(t.also)


class PathConst(NamedTuple):
    """A name bound once to an absolute path (``_MARKER = "/etc/cluster-b"``), or to a
    sequence holding one (``seq``: ``_MARKERS = ("/etc/a", "/opt/b")``, looped over)."""

    path: str
    lines: tuple[int, ...]  # the bindings it goes through (a constant built from another)
    seq: bool = False


class Paths(Protocol):
    def get(self, key: str, /) -> PathConst | None: ...


_BLOCK = (ast.stmt, ast.ExceptHandler, ast.match_case)
_CLOCKS = frozenset({TIME, FILETIME})


def stmt_walk(tree: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` restricted to statements, in the same order: imports and
    definitions are statements, so expressions (most of a file) need no visit.
    Statements sit only in list fields (``body``, ``orelse``, ``handlers`` ...),
    each holding one kind of node: only those are read."""
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        for field in node._fields:
            value = getattr(node, field, None)
            # A handler or a match case sits between a statement and its body: kept,
            # so each statement's depth, hence the walk's order, is ast.walk's.
            if isinstance(value, list) and value and isinstance(value[0], _BLOCK):
                todo.extend(value)
        yield node


def aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name it stands for, from every import in the file."""
    out: dict[str, str] = {}
    for node in statements(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    out.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom):
            mod = "." * node.level + (node.module or "")
            for a in node.names:
                out[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
    return out


def qualname(node: ast.AST, alias: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return alias.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = qualname(node.value, alias)
        return f"{base}.{node.attr}" if base is not None else None
    return None


def _env_kind(key: ast.AST | None) -> tuple[str, str]:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        name = key.value
        if _RANK_ENV.match(name):
            return RANK, name
        if _SIZE_ENV.match(name):
            return SIZE, name
        return (JOB if _JOB_ENV.match(name) else ENV), name
    return ENV, "?"


class Table(Protocol):
    """What a trigger lookup needs of a table (a dict, or one computed on demand)."""

    def get(self, key: str, /) -> Trigger | None: ...


class Names:
    """Names bound to a trigger: a scope's own over its parent's (a function's over
    the module's), which is read, never copied: the module's may be computed name
    by name (``resolve``, issue #17), and a copy would compute them all."""

    __slots__ = ("hidden", "memo", "own", "parent", "resolve")

    def __init__(
        self, parent: Names | None = None, resolve: Callable[[str], Trigger | None] | None = None
    ) -> None:
        self.own: dict[str, Trigger] = {}
        self.parent = parent
        self.hidden: set[str] = set()  # the parent's names a parameter shadows
        self.resolve = resolve
        self.memo: dict[str, Trigger | None] = {}

    def get(self, name: str) -> Trigger | None:
        got = self.own.get(name)
        if got is not None or name in self.hidden:
            return got
        if self.parent is not None:
            return self.parent.get(name)
        if self.resolve is None:
            return None
        if name not in self.memo:
            self.memo[name] = self.resolve(name)
        return self.memo[name]

    def bind(self, name: str, t: Trigger) -> bool:
        """``setdefault``: whether the name was not bound yet."""
        if self.get(name) is not None:
            return False
        self.own[name] = t
        return True

    def hide(self, name: str) -> None:
        self.own.pop(name, None)
        self.hidden.add(name)


class Env:
    """Which names, ``self`` attributes and local functions carry a trigger."""

    def __init__(
        self,
        alias: Mapping[str, str],
        names: Names | None = None,
        attrs: Table | None = None,
        funcs: Table | None = None,
    ) -> None:
        self.alias = alias
        self.names: Names = names if names is not None else Names()
        self.attrs: Table = attrs if attrs is not None else {}
        self.funcs: Table = funcs if funcs is not None else {}
        # Module-level names bound once to an integer (WARM_STEPS = 5000).
        self.consts: Mapping[str, int] = {}
        # Names and ``self`` attributes bound once to an absolute path (constants.py).
        self.paths: Paths = {}
        self.attr_paths: Paths = {}
        # The file's functions that return a random draw (draws.Drawing).
        self.drawing: Container[str] = frozenset()
        # Names drawn once (module level) and ``self`` attributes drawn in ``__init__``
        # (events.py); None: the file draws nothing.
        self.events: Events | None = None
        self.event_attrs: Mapping[str, Trigger] = {}

    def child(self) -> Env:
        env = Env(self.alias, Names(self.names), self.attrs, self.funcs)
        env.consts = self.consts
        env.paths = self.paths
        env.attr_paths = self.attr_paths
        env.drawing = self.drawing
        env.events, env.event_attrs = self.events, self.event_attrs
        return env

    def source(self, node: ast.AST) -> Trigger | None:
        """The trigger this node itself reads, not looking inside it."""
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            q = qualname(node.func, self.alias)
            if q is None:  # Path("/etc/tier").read_text()
                return self._probe(node, None) if _probe_name(node.func) else None
            got = self.funcs.get(q)
            if got is not None:
                return got
            kind = _CALLS.get(q)
            if kind == ENV:
                kind, var = _env_kind(node.args[0] if node.args else None)
                return Trigger(kind, f"{q}({var!r})", line)
            if kind is not None:
                return Trigger(kind, f"{q}()", line)
            return self._probe(node, q) if _probe_name(node.func) else None
        if isinstance(node, ast.Subscript) and qualname(node.value, self.alias) in _ENVIRON:
            kind, var = _env_kind(node.slice)
            return Trigger(kind, f"os.environ[{var!r}]", line)
        if isinstance(node, ast.Compare) and any(
            qualname(c, self.alias) in _ENVIRON for c in node.comparators
        ):
            kind, var = _env_kind(node.left)
            return Trigger(kind, f"{var!r} in os.environ", line)
        # env = os.environ; env.get("CLUSTER"): the mapping itself, copied or aliased
        # (keyed reads are matched above, with their key's kind).
        if isinstance(node, ast.Name):
            if node.id in self.alias:
                q = self.alias[node.id]
                if q in _ENVIRON:
                    return Trigger(ENV, "os.environ", line)
                if q in _MACHINE_ATTRS:  # from sys import executable
                    return Trigger(MACHINE, q, line)
            got = self.names.get(node.id)
            return got if got is not None else _named(node.id, line)
        if isinstance(node, ast.Attribute):
            if node.attr in _ENVIRON_ATTRS and qualname(node, self.alias) in _ENVIRON:
                return Trigger(ENV, "os.environ", line)
            if node.attr in _MACHINE_ATTR_NAMES:
                q = qualname(node, self.alias)
                if q in _MACHINE_ATTRS:
                    return Trigger(MACHINE, q, line)
            if node.attr in FILE_TIME_ATTRS:  # os.stat(f).st_mtime: a date only vs a date
                return Trigger(FILETIME, ast.unparse(node)[:60], line)
            own = isinstance(node.value, ast.Name) and node.value.id == "self"
            got = self.attrs.get(node.attr) if own else None
            if got is not None:
                return got
            return _named(node.attr, line, ast.unparse(node))
        return None

    def _probe(self, call: ast.Call, q: str | None) -> Trigger | None:
        """``os.path.exists("/etc/cluster-b")``, ``Path("/etc/tier").read_text()``,
        ``open("/etc/hostname")``, ``os.path.expanduser("~")``: the machine's answer;
        also through a constant holding the path (``os.path.exists(_MARKER)``)."""
        line = getattr(call, "lineno", 0)
        if q in _PROBES or q == "os.path.expanduser":
            got = self.spelled_path(call.args[0]) if call.args else None
            if got is not None and (q in _PROBES or got.path.startswith("~")):
                arg = "" if not got.lines else f"{ast.unparse(call.args[0])[:40]} = "
                return Trigger(MACHINE, f"{q}({arg}{got.path!r})", line, got.lines)
            if q in FILE_TIME_CALLS:  # the job's own file: a date only vs a date (dates.py)
                return Trigger(FILETIME, ast.unparse(call)[:60], line)
            return None
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _PATH_METHODS:
            got = self.spelled_path(func.value)
            if got is not None:
                shown = f"{ast.unparse(func)[:60]}()"
                if got.lines:
                    shown += f" (the path {got.path!r})"
                return Trigger(MACHINE, shown, line, got.lines)
        return None

    def spelled_path(self, node: ast.AST) -> PathConst | None:
        """The absolute path (or ``~``) an expression starts with, if it is spelled in
        it (a literal, an f-string, ``os.path.join``/``Path(...)``/``/`` of one) or held
        by a name or ``self`` attribute bound once to one (``constants``), with the
        lines of the constants it goes through (none for a path spelled in place). A
        loop, not recursion: a 1,000-term sum at module level is a value looked at here.
        The report shows the whole path (``os.path.join("/etc", "x")``: '/etc/x')."""
        tail: list[tuple[str, ast.AST]] = []  # what follows the start, innermost last
        while True:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                ok = node.value.startswith(("/", "~"))
                return PathConst(self._whole(node.value, tail), ()) if ok else None
            if isinstance(node, ast.JoinedStr) and node.values:
                tail += [("", v) for v in reversed(node.values[1:])]
                node = node.values[0]
            elif isinstance(node, ast.FormattedValue) and node.format_spec is None:
                node = node.value  # f"{_ROOT}/cluster-b"
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
                tail.append(("/" if isinstance(node.op, ast.Div) else "", node.right))
                node = node.left
            elif isinstance(node, ast.Call):
                q = qualname(node.func, self.alias)
                if q == "pathlib.Path.home":
                    return PathConst(self._whole("~", tail), ())
                if q in _PATH_CALLS and node.args:
                    tail += [("/", a) for a in reversed(node.args[1:])]
                    node = node.args[0]
                elif isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_KEEPS:
                    tail += [("/", a) for a in reversed(node.args)]  # joinpath("b")
                    node = node.func.value
                else:
                    return None
            else:
                got = self._held(node)
                return got._replace(path=self._whole(got.path, tail)) if got else None

    def _whole(self, path: str, tail: list[tuple[str, ast.AST]]) -> str:
        """The path and what follows: literals and constants, anything else as ``{x}``."""
        for sep, part in reversed(tail):
            part = part.value if isinstance(part, ast.FormattedValue) else part
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                text = part.value
            else:
                held = self._held(part)
                text = held.path if held is not None else f"{{{ast.unparse(part)}}}"
            path = posixpath.join(path, text) if sep else path + text
        return path

    def _held(self, node: ast.AST) -> PathConst | None:
        """A name or ``self`` attribute bound to a path, an element of a sequence of them."""
        got: PathConst | None = None
        if isinstance(node, ast.Name):
            got = self.paths.get(node.id)
        elif isinstance(node, ast.Attribute) and _is_self(node.value):
            got = self.attr_paths.get(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            seq = self.paths.get(node.value.id)  # _MARKERS[0]
            return seq._replace(seq=False) if seq is not None and seq.seq else None
        return got if got is not None and not got.seq else None

    def _clock_compare(self, node: ast.Compare, deep: bool) -> Trigger | None:
        """``time.time() - OFFSET > 1788000000``: a clock value against epoch seconds;
        also a file's time against a date (``os.path.getmtime(f) > 1790000000``,
        ``datetime.fromtimestamp(st.st_mtime) > datetime(2026, 9, 1)``: dates.py)."""
        sides = (node.left, *node.comparators)
        if not any(_epoch(s) or self._date(s) for s in sides):
            return None
        for s in sides:
            for sub in ast.walk(s):
                t = self.source(sub)
                if t is None or t.kind not in _CLOCKS:
                    continue
                # The date it is compared with arms it (#16, session 17): a hit rests on
                # that line too, so a change that only moves the date is reported.
                also = t.also if node.lineno in (t.line, *t.also) else (*t.also, node.lineno)
                what = t.what if t.kind == TIME else f"{t.what} against a date"
                return Trigger(TIME, what, t.line, also)
        return None

    def _date(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and date_ctor(node, qualname(node.func, self.alias))

    def taint(self, node: ast.AST | None, deep: bool = False) -> Trigger | None:
        """The first trigger this expression's value is derived from.

        ``deep``: also through any call's arguments (a guard's own test:
        ``if is_prod(host)``); otherwise only through transparent calls.
        """
        if node is None:
            return None
        found = self.source(node)
        if found is not None:
            return found
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            # time.time() - start is a duration, not a date: timing code is everywhere
            # (start may be a parameter or another object's field). time.time() - 0
            # is still the date, and so is any clock value compared with an epoch
            # literal (_clock_compare).
            left, right = self.taint(node.left, deep), self.taint(node.right, deep)
            if left is not None and left.kind == TIME and not isinstance(node.right, ast.Constant):
                return None
            return _stronger(left, right)
        if isinstance(node, ast.Compare):
            step = step_compare(node, self.consts)
            if step is not None:
                return Trigger(STEP, *step)
            clock = self._clock_compare(node, deep)
            if clock is not None:
                return clock
            sides = [self.taint(s, deep) for s in (node.left, *node.comparators)]
            hits = [t for t in sides if t is not None]
            if len(hits) >= 2 and all(t.kind in _CLOCKS for t in hits):
                # time.time() > deadline (= time.time() + timeout): a timeout; a file's
                # time against the clock or another file's is its age or recency.
                return None
        if isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        weak = None
        for child in _children(node, deep):
            got = self.taint(child, deep)
            if got is not None:
                if got.kind != FILETIME:
                    return got
                weak = weak or got  # a file time hides no trigger read beside it
        return weak


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _probe_name(func: ast.AST) -> bool:
    """Whether a call can be a probe (``source`` runs on every node: a name test first)."""
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) in (
        _PROBE_NAMES
    )


def _stronger(a: Trigger | None, b: Trigger | None) -> Trigger | None:
    """The first, unless it is a file time and the second is not (``FILETIME`` is
    judged by no verdict: it must not hide a trigger read beside it)."""
    if a is None or (a.kind == FILETIME and b is not None):
        return b if b is not None and b.kind != FILETIME else a or b
    return a


def _named(name: str, line: int, shown: str | None = None) -> Trigger | None:
    if _RANK_NAME.match(name):
        return Trigger(RANK, shown or name, line)
    if _SIZE_NAME.match(name):
        return Trigger(SIZE, shown or name, line)
    return None


def _children(node: ast.AST, deep: bool) -> Iterator[ast.AST]:
    if isinstance(node, ast.Call):
        name = last_name(node.func)
        if deep or name in _TRANSPARENT:
            yield from node.args
            yield from (k.value for k in node.keywords)
        # host.startswith("prod"): the receiver's value flows through a method.
        if isinstance(node.func, ast.Attribute) and (deep or name in _TRANSPARENT):
            yield node.func.value
        return
    if isinstance(node, ast.Attribute):
        yield node.value
        return
    yield from children(node)
