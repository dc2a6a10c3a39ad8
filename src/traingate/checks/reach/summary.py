"""The head tree's Python files, read through git, parsed once and cached (issue #16).

The tree is the one the change produces: ``--head``'s tree for a range, the
base tree with the change's blobs laid over it for ``--staged`` and the
working tree, the scanned files for ``scan``. Nothing is imported or run:
blobs are read through the change (``git cat-file``), parsed with ``ast``.

Caps: at most ``MAX_FILES`` Python files, ``MAX_TOTAL_BYTES`` in all and
``MAX_FILE_BYTES`` each. Whatever a cap leaves out is named, and the check
reports it as ``reach-incomplete`` (fail closed: a call into a skipped file
is a call the summary cannot judge).

Lazy (issue #17): the caps are decided from the tree listing alone; a file
is parsed only when the reach exploration (graph.py) or a caller asks for it,
so a change's cost tracks what its added calls reach, not the tree's size.

Cache: facts depend only on a blob's bytes, so one small JSON per blob id
(``_Cache``) serves every tree, mode and commit: a warm re-check parses
nothing, and a new commit parses only the new blobs its exploration visits.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git
from traingate.change import Change
from traingate.checks.reach import facts as factsmod
from traingate.checks.reach.compact import Compactor
from traingate.checks.reach.listing import Entry, Tree, head_tree
from traingate.errors import GitError

# Callers read the listing through here (sabotage follows imports with it).
__all__ = ["Entry", "Summary", "Tree", "head_tree", "summarize"]

MAX_FILES = 20_000
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_FILE_BYTES = 4_000_000

# Debug counter for tests and the bench: blobs parsed by this process (a warm
# cache parses none).
STATS = {"parsed": 0}

# Marks the error entry of a blob ``ast`` accepts but the extractor could not
# finish (``LazyFacts.incomplete``), as against one Python refuses.
INCOMPLETE = "incomplete"

# Files a scan holds whole while they wait for their turn (LazyFacts.held):
# past this, one is read again at its turn instead (issue #17: memory).
HOLD = 4096

_SALT = f"reach-v{factsmod.VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"


def tree_key(py: dict[str, Entry]) -> str:
    # The caps shape what a summary holds (what it skipped): part of the key.
    h = hashlib.sha256(f"{_SALT}:{MAX_FILES}:{MAX_TOTAL_BYTES}:{MAX_FILE_BYTES}".encode())
    for path in sorted(py):
        h.update(f"{path}\0{py[path].oid}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class LazyFacts(Mapping[str, dict[str, Any]]):
    """path -> facts, each file parsed (or read from the cache) on first use.

    A path the caps left out, or whose blob ``ast`` refuses, is absent; the
    refusal is recorded in ``unparsed`` when the file is first asked for, or
    in ``incomplete`` when ``ast`` accepts it but its facts could not be
    extracted (so a file is there only when the search asked for it).
    Iterating parses every file: only ``scan``-sized uses should iterate.
    """

    def __init__(
        self,
        entries: dict[str, str],
        blobs: _Blobs,
        unparsed: dict[str, str],
        incomplete: dict[str, str] | None = None,
        oversize: dict[str, str] | None = None,
    ) -> None:
        self._entries = entries  # path -> blob id, the files the caps admit
        self.blobs = blobs
        self._unparsed = unparsed
        self.incomplete = incomplete if incomplete is not None else {}
        # path -> why: over MAX_FILE_BYTES, never parsed; a search that needs
        # one cannot judge the call, so it is incomplete then (fail closed).
        self._oversize = oversize if oversize is not None else {}
        self._loaded: dict[str, dict[str, Any] | None] = {}
        self.big: dict[str, str] = {}  # oversize path -> blob id (``mentioning``)
        # (root, revision, the paths whose blob is that revision's): ``_grep``
        self.grep: tuple[Path, str, frozenset[str]] | None = None
        # ``scan`` (issue #17: memory): facts are held without their calls and
        # writes, which ``full`` reads again (see ``stream``) ...
        self.slim = False
        # ... but a file still to be streamed (``waiting``) that a lookup
        # loads early keeps them until its turn (``held``, at most HOLD).
        self.waiting: set[str] = set()
        self.held: dict[str, None] = {}

    def stream(self, waiting: Iterable[str]) -> None:
        """From now on hold only slim facts (every file's but the ones added),
        but for the early ones of ``waiting``, until ``done``."""
        self.slim = True
        self.blobs.rows = False
        self.waiting = set(waiting)
        for path, got in self._loaded.items():
            if got is not None and path in self._entries:
                self._loaded[path] = self.blobs.slim(self._entries[path], got)

    def done(self, path: str) -> None:
        """``path`` is streamed: hold it slim."""
        self.waiting.discard(path)
        self.held.pop(path, None)
        got = self._loaded.get(path)
        if got is not None and path in self._entries:
            self._loaded[path] = self.blobs.slim(self._entries[path], got)

    def full(self, path: str) -> dict[str, Any] | None:
        """The facts of ``path`` with its calls and writes, read again (from the
        cache, or parsed) when only the slim ones are held: not kept."""
        return self._load(path, whole=True)

    def add(self, path: str, facts: dict[str, Any]) -> None:
        """Facts that do not come from a blob of the tree (a notebook's cells)."""
        self._loaded[path] = self.blobs.compact.facts(facts)

    def _load(self, path: str, whole: bool = False) -> dict[str, Any] | None:
        """The facts of ``path`` as held (slim after ``stream``), or with
        ``whole`` as extracted, read again if need be (not kept)."""
        if path in self._loaded:
            held = self._loaded[path]
            if whole and held is not None and "calls" not in held:
                return self.blobs.reload(self._entries[path], path)
            return held
        oid = self._entries.get(path)
        got = None
        if path in self._oversize:
            self.incomplete[path] = self._oversize[path]
        elif oid is not None:
            facts = self.blobs.facts(oid, path)
            if "error" in facts:
                left_out = self.incomplete if facts.get(INCOMPLETE) else self._unparsed
                left_out[path] = str(facts["error"])
            elif whole and "calls" not in facts:
                got = self.blobs.reload(oid, path)  # its blob's, slimmed under another path
            else:
                got = facts
        held = got
        if got is not None and oid is not None and self.slim:
            if not whole and path in self.waiting and len(self.held) < HOLD:
                self.held[path] = None  # streamed soon: not read twice
                if not self.blobs.rows:
                    self.blobs.compact.rows(got)  # held a while: in less memory
            else:
                held = self.blobs.slim(oid, got)
        self._loaded[path] = held
        return got if whole else held

    def mentioning(self, names: Iterable[str]) -> list[str]:
        """The paths (in order) whose bytes hold one of ``names`` as a word,
        read and not parsed (graph.Graph._registered: a registry's decorator
        in other files); files added from elsewhere (a notebook) are all
        kept. An oversize one that names one is incomplete when loaded."""
        raw = [n.encode() for n in names]
        word = re.compile(rb"\b(?:" + b"|".join(re.escape(n) for n in raw) + rb")\b")
        hits, listed = self._grep(sorted(names))
        out = []
        for path, oid in [*self._entries.items(), *self.big.items()]:
            if path in listed:
                if path in hits:
                    out.append(path)
                continue
            data = self.blobs.change.read(oid) or b""
            # A plain substring test first (issue #17): a scan searches every
            # blob of the tree, most name none of these; no bytes, no word.
            if any(n in data for n in raw) and word.search(data) is not None:
                out.append(path)
        return out + [p for p in self._loaded if p not in self._entries and p not in self.big]

    def _grep(self, names: list[str]) -> tuple[set[str], frozenset[str]]:
        """``git grep`` of the listed revision (the paths whose blobs are
        that revision's): its blobs are searched by git, not read into this
        process (the blob reader keeps what it reads: ~70 MB on the corpus).
        No hit at all is taken as a failure (the registry's own file names
        its decorator): then every blob is read instead."""
        if self.grep is None:
            return set(), frozenset()
        root, rev, listed = self.grep
        pats = [x for n in names for x in ("-e", n)]
        try:
            out = git.run(root, "grep", "-l", "-z", "-w", "-F", *pats, rev, "--", "*.py")
        except GitError:
            # 1: no match; more: git failed, maybe after listing some files,
            # and a partial list would drop registrants (fail closed: read all)
            return set(), frozenset()
        prefix = f"{rev}:"
        hits = {
            p[len(prefix) :]
            for p in out.decode("utf-8", "surrogateescape").split("\0")
            if p.startswith(prefix)
        }
        return (hits, listed) if hits else (set(), frozenset())

    def __getitem__(self, path: str) -> dict[str, Any]:
        got = self._load(path)
        if got is None:
            raise KeyError(path)
        return got

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._load(path) is not None

    def __iter__(self) -> Iterator[str]:
        extra = [p for p in self._loaded if p not in self._entries]
        return (p for p in [*self._entries, *extra] if self._load(p) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Summary:
    facts: LazyFacts  # path -> facts (parseable files only), parsed on demand
    unparsed: dict[str, str]  # path -> why ast refused it (filled as files are parsed)
    skipped: dict[str, str]  # path -> the cap that left it out
    tree: Tree
    key: str
    from_cache: bool  # kept for callers; facts now come from the blob cache one by one
    paths: list[str] = field(default_factory=list)  # the admitted and oversized files, sorted


def summarize(change: Change, cache_dir: Path | None) -> Summary:
    """Decide the caps from the listing; parse nothing yet (issue #17)."""
    tree = head_tree(change)
    blobs = _Blobs(change, _Cache(cache_dir) if cache_dir is not None else None)
    unparsed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    oversize: dict[str, str] = {}
    entries = _admit(tree, blobs, oversize, skipped)
    facts = LazyFacts(entries, blobs, unparsed, {}, oversize)
    facts.big = {p: tree.py[p].oid for p in oversize}
    rev = change.head if change.mode == "range" else change.merge_base or change.base
    if rev and change.mode != "scan":
        # sizes come from the listing: a blob laid over from the change has none
        listed = frozenset(p for p, e in tree.py.items() if e.size is not None)
        facts.grep = (change.root, rev, listed)
    _LAST[:] = [blobs]
    # An oversized file still names its module, so a call into it resolves to
    # it (and finds it cannot be judged) instead of to an external name.
    paths = [p for p in sorted(tree.py) if p in entries or p in oversize]
    return Summary(facts, unparsed, skipped, tree, tree_key(tree.py), False, paths)


def _admit(
    tree: Tree, blobs: _Blobs, oversize: dict[str, str], skipped: dict[str, str]
) -> dict[str, str]:
    """The caps, in sorted path order, from the listing's sizes alone (a blob
    laid over from the change has none: the cache or the blob tells it)."""
    entries: dict[str, str] = {}
    total = 0
    for n, path in enumerate(sorted(tree.py)):
        entry = tree.py[path]
        if n >= MAX_FILES:
            skipped[path] = f"more than {MAX_FILES} Python files in the tree"
            continue
        size = entry.size if entry.size is not None else blobs.size(entry.oid)
        if size > MAX_FILE_BYTES:
            # One huge file (generated tables, vendored data) is not summarised:
            # quiet until a search needs it, then the call it hides is not
            # judged and the change blocks (reach-incomplete).
            oversize[path] = f"larger than {MAX_FILE_BYTES} bytes, not summarised"
            continue
        if total + size > MAX_TOTAL_BYTES:
            skipped[path] = f"the tree's Python files exceed {MAX_TOTAL_BYTES} bytes"
            continue
        total += size
        entries[path] = entry.oid
    return entries


class _Blobs:
    """Facts by blob id: this process's memory, then the cache, then ``ast``.

    Facts enter ``mem`` compacted (``Compactor``): a scan holds every file's."""

    def __init__(self, change: Change, cache: _Cache | None) -> None:
        self.change = change
        self.cache = cache
        self.mem: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, bytes] = {}  # read for their size, not parsed yet
        self.compact = Compactor()
        # Whether calls and writes are compacted too: not once a scan streams
        # (``LazyFacts.stream``), which holds them only until the file's turn
        # (issue #17: compacting them was ~3 of a cold scan's CPU s, for facts
        # dropped a moment later).
        self.rows = True

    def _compacted(self, facts: dict[str, Any]) -> dict[str, Any]:
        return self.compact.facts(facts, rows=self.rows)

    def _cached(self, oid: str) -> dict[str, Any] | None:
        got = self.cache.load(oid) if self.cache is not None else None
        return self._compacted(got) if got is not None else None

    def size(self, oid: str) -> int:
        if self.change.mode == "scan":
            # Files on disk: read again when parsed, rather than held (or their
            # facts loaded) from the listing on (issue #17: memory).
            return len(self.change.read(oid) or b"")
        got = self.mem.get(oid) or self._cached(oid)
        if got is not None and isinstance(got.get("size"), int):
            self.mem[oid] = got
            return int(got["size"])
        data = self.change.read(oid) or b""
        self.pending[oid] = data
        return len(data)

    def facts_if_small(self, oid: str, path: str) -> dict[str, Any] | None:
        """As ``facts``, or None for a blob over ``MAX_FILE_BYTES`` or missing."""
        got = self.mem.get(oid) or self._cached(oid)
        if got is None:
            data = self.change.read(oid)
            if data is None or len(data) > MAX_FILE_BYTES:
                return None
            self.pending[oid] = data
        elif int(got["size"]) > MAX_FILE_BYTES:
            return None
        else:
            self.mem[oid] = got  # read and compacted once, not again by ``facts``
        return self.facts(oid, path)

    def facts(self, oid: str, path: str) -> dict[str, Any]:
        got = self.mem.get(oid)
        if got is None:
            got = self._cached(oid)
        if got is None:
            data = self.pending.pop(oid, None)
            if data is None:
                data = self.change.read(oid) or b""
            got = self._compacted({**_parse(data, path), "size": len(data)})
            if self.cache is not None:
                self.cache.store(oid, got)
        self.mem[oid] = got
        return got

    def slim(self, oid: str, facts: dict[str, Any]) -> dict[str, Any]:
        """``facts`` without what only its own file's judging reads (calls,
        writes), in place of the full ones in memory."""
        if "calls" not in facts:
            return facts
        # Lists become tuples: ~30 bytes less each, for ~10^5 small rows.
        got = {k: _frozen(v) for k, v in facts.items() if k not in _STREAMED}
        if self.mem.get(oid) is facts:
            self.mem[oid] = got
        return got

    def reload(self, oid: str, path: str) -> dict[str, Any]:
        """The full facts of a blob whose slim ones are held, not kept (the
        cache, else a parse: the same bytes give the same facts)."""
        got = self._cached(oid)
        if got is None:
            data = self.change.read(oid) or b""
            got = self._compacted({**_parse(data, path), "size": len(data)})
        if "error" in got:
            raise RuntimeError(f"reach: {path} parsed once and not again: {got['error']}")
        return got


# What ``_Blobs.slim`` leaves out: read by the file's own judging alone.
_STREAMED = frozenset({"calls", "writes"})


def _frozen(v: Any) -> Any:
    t = type(v)
    if t is list:
        return tuple([_frozen(x) for x in v])
    if t is dict:
        return {k: _frozen(x) for k, x in v.items()}
    return v


def _parse(data: bytes, path: str) -> dict[str, Any]:
    STATS["parsed"] += 1
    # ast.parse makes millions of short-lived, acyclic objects: the cyclic
    # collector only slows it (by ~30% on a 28 MB tree); the trees are freed
    # by reference counting as each file's facts are taken.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        # The bytes, as an import compiles them (issue #16): a UTF-8 BOM and a
        # PEP 263 cookie decode the file; what CPython refuses is a SyntaxError.
        tree = factsmod.parse(data, path)
    except SyntaxError as exc:
        return {"error": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
    except (ValueError, RecursionError, MemoryError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    else:
        try:
            return factsmod.extract_tree(tree)
        except (RecursionError, MemoryError) as exc:
            # Python accepts the file (and would run it) but its facts are
            # not known: it must not hide a sink (issue #16, a helper padded
            # with a deep expression). Blocks where the search needs it.
            return {"error": f"{type(exc).__name__}: {exc}", INCOMPLETE: 1}
    finally:
        if gc_was_on:
            gc.enable()


# The blob store of the last summary, so that a pass given only the change
# (the base side of a changed file) shares its memory and disk cache and a
# warm re-check parses nothing (issue #17). One slot: the memory it holds is
# one summary's, until the next one.
_LAST: list[_Blobs] = []


def release() -> None:
    """Forget the last summary's blob store (its memory goes with it)."""
    _LAST.clear()


def _store_of(change: Change) -> _Blobs | None:
    return next((b for b in _LAST if b.change is change), None)


def parse_blob(
    change: Change, oid: str | None, path: str, summary: Summary | None = None
) -> dict[str, Any] | None:
    """Facts of one blob outside the summary (the base side of a changed file),
    through the blob cache of ``summary`` (or of the change's last summary)."""
    if oid is None:
        return None
    blobs = summary.facts.blobs if summary is not None else _store_of(change)
    if blobs is not None:
        got = blobs.facts_if_small(oid, path)
        return None if got is None or "error" in got else got
    data = change.read(oid)
    if data is None or len(data) > MAX_FILE_BYTES:
        return None
    got = _parse(data, path)
    return None if "error" in got else got


_FACT_KEYS = frozenset({"defs", "classes", "aliases", "calls"})


class _Cache:
    """One JSON per blob: ``<cache_dir>/reach/<salt>/<oid[:2]>/<oid>.json``.

    Facts depend only on a blob's bytes, so an entry serves every tree, mode
    and repository that holds the blob, and a warm re-check reads only the
    files its exploration visits. A corrupt, foreign or unreadable entry is a
    miss; a cache that cannot be written only costs speed (as the semgrep
    check's cache). Bound: when a run first writes an entry, at most once every
    ``PRUNE_EVERY`` seconds, the oldest entries (by write time) go until
    ``KEEP`` remain, so the directory holds at most ``KEEP`` entries plus what
    the runs of one ``PRUNE_EVERY`` period wrote.
    """

    KEEP = 50_000
    PRUNE_EVERY = 3600.0

    def __init__(self, root: Path) -> None:
        self.dir = root / "reach" / _SALT
        self.wrote = False
        self._made: set[Path] = set()  # directories made (or found) by this run

    def _path(self, oid: str) -> Path:
        return self.dir / oid[:2] / f"{oid}.json"

    def exists(self, oid: str) -> bool:
        """Whether an entry for ``oid`` is on disk (valid or not: ``load`` judges)."""
        return _OID_RE.fullmatch(oid) is not None and self._path(oid).exists()

    def load(self, oid: str) -> dict[str, Any] | None:
        if not _OID_RE.fullmatch(oid):
            return None
        try:
            doc = json.loads(self._path(oid).read_text(encoding="utf-8"))
            facts = doc["facts"]
            if doc.get("oid") != oid or not isinstance(facts, dict):
                return None
            if not isinstance(facts.get("size"), int):
                return None
            if "error" in facts:
                return facts if isinstance(facts["error"], str) else None
            return facts if facts.keys() >= _FACT_KEYS else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def store(self, oid: str, facts: dict[str, Any]) -> None:
        if not _OID_RE.fullmatch(oid):
            return
        if not self.wrote:
            self.prune()
        path = self._path(oid)
        try:
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            text = _DUMPS({"oid": oid, "facts": facts})
            _atomic_write(path, text.encode("ascii"))  # dumps escapes non-ASCII
            self.wrote = True
        except OSError:
            pass

    def prune(self) -> None:
        stamp = self.dir / "pruned"
        try:
            if stamp.exists() and time.time() - stamp.stat().st_mtime < self.PRUNE_EVERY:
                return
            stamp.touch()
            for old in self.dir.glob("*.json"):  # the per-tree entries of 0.2
                old.unlink(missing_ok=True)
            for old in self.dir.glob("last-*"):
                old.unlink(missing_ok=True)
            entries = [(p.stat().st_mtime, p) for p in self.dir.glob("??/*.json")]
            if len(entries) <= self.KEEP:
                return
            entries.sort()
            for _mtime, old in entries[: len(entries) - self.KEEP]:
                old.unlink(missing_ok=True)
        except OSError:
            pass


_OID_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# What json.dumps(..., separators=(",", ":")) writes, by one encoder made once
# and without the cycle check (facts are trees): a cold scan writes every
# blob's entry (issue #17: ~20% of the serialisation).
_DUMPS = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


_TMP = itertools.count()


def _atomic_write(path: Path, data: bytes) -> None:
    # A name of this process's own, created exclusively (as mkstemp does, at
    # half its cost: issue #17, one write per blob of a cold scan); one taken
    # (a dead process's) fails the write, which only costs the cache entry.
    tmp = f"{path}.{os.getpid()}.{next(_TMP)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]  # a short write goes on
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def requirement_files(tree: Tree) -> Iterable[tuple[str, str]]:
    """(path, oid) of the files a torch requirement may be declared in."""
    from traingate.checks.reach.torchreq import is_requirement_file

    for path in sorted(tree.other):
        if is_requirement_file(path):
            yield path, tree.other[path].oid
    for path in sorted(tree.py):
        if path == "setup.py" or path.endswith("/setup.py"):
            yield path, tree.py[path].oid
