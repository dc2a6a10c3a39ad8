"""The head tree's Python files, read through git, parsed once and cached (issue #16).

The tree is the one the change produces: ``--head``'s tree for a range, the
base tree with the change's blobs laid over it for ``--staged`` and the
working tree, the scanned files for ``scan``. Nothing is imported or run:
blobs are read through the change (``git cat-file``), parsed with ``ast``.

Caps: at most ``MAX_FILES`` Python files, ``MAX_TOTAL_BYTES`` in all and
``MAX_FILE_BYTES`` each. Whatever a cap leaves out is named, and the check
reports it as ``reach-incomplete`` (fail closed: a call into a skipped file
is a call the summary cannot judge).

Cache: the hook runs on every commit, and parsing a large tree costs seconds.
Facts depend only on a blob's bytes, so one JSON per tree key (a digest of the
tree's Python paths and blob ids: the same for the same tree whatever mode
produced it) holds the facts of its blobs. A tree not seen before borrows the
facts of the base tree's entry, or of the last tree this repository wrote, and
parses only the blobs neither has.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git
from traingate.change import Change, Status
from traingate.checks.reach import facts as factsmod

MAX_FILES = 20_000
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_FILE_BYTES = 4_000_000

# Debug counter for tests and the bench: blobs parsed by this process (a warm
# cache parses none).
STATS = {"parsed": 0}

_SALT = f"reach-v{factsmod.VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"


@dataclass
class Entry:
    oid: str
    size: int | None  # from `ls-tree -l`; None for blobs laid over from the change


@dataclass
class Tree:
    """The Python files of a tree and the requirement files beside them."""

    py: dict[str, Entry] = field(default_factory=dict)
    other: dict[str, Entry] = field(default_factory=dict)  # every other blob


@dataclass
class Summary:
    facts: dict[str, dict[str, Any]]  # path -> facts (parseable files only)
    unparsed: dict[str, str]  # path -> why ast refused it
    skipped: dict[str, str]  # path -> the cap that left it out
    tree: Tree
    key: str
    from_cache: bool


def _ls_tree(root: Path, rev: str) -> Tree:
    out = git.run(root, "ls-tree", "-r", "-l", "-z", "--full-tree", rev)
    tree = Tree()
    for record in out.split(b"\0"):
        if not record.startswith(b"100"):
            continue  # links, gitlinks and trees are not Python modules here
        meta, _, raw = record.partition(b"\t")
        parts = meta.split()
        name = raw.decode("utf-8", "surrogateescape")
        size = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        entry = Entry(parts[2].decode(), size)
        (tree.py if name.endswith(".py") else tree.other)[name] = entry
    return tree


def head_tree(change: Change) -> Tree:
    """The tree the change produces (see the module docstring)."""
    if change.mode == "range" and change.head:
        return _ls_tree(change.root, change.head)
    base = change.merge_base or change.base
    tree = _ls_tree(change.root, base) if base and change.mode != "scan" else Tree()
    for f in change.files:
        for p in f.paths:
            tree.py.pop(p, None)
            tree.other.pop(p, None)
        if (
            f.status is not Status.DELETED
            and f.new_path is not None
            and f.new_oid is not None
            and f.new_mode is not None
            and f.new_mode.startswith("100")
        ):
            entry = Entry(f.new_oid, None)
            (tree.py if f.new_path.endswith(".py") else tree.other)[f.new_path] = entry
    return tree


def base_tree(change: Change) -> Tree | None:
    """The tree the change starts from (only to find a cache entry to borrow from)."""
    base = change.merge_base or change.base
    if not base or change.mode == "scan":
        return None
    try:
        return _ls_tree(change.root, base)
    except Exception:  # a cache hint only: never a reason to fail
        return None


def tree_key(py: dict[str, Entry]) -> str:
    # The caps shape what a summary holds (what it skipped): part of the key.
    h = hashlib.sha256(f"{_SALT}:{MAX_FILES}:{MAX_TOTAL_BYTES}:{MAX_FILE_BYTES}".encode())
    for path in sorted(py):
        h.update(f"{path}\0{py[path].oid}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def summarize(change: Change, cache_dir: Path | None) -> Summary:
    tree = head_tree(change)
    key = tree_key(tree.py)
    cache = _Cache(cache_dir, change.root) if cache_dir is not None else None
    hit = cache.load(key) if cache else None
    if hit is not None:
        return Summary(hit["facts"], hit["unparsed"], hit["skipped"], tree, key, True)
    known: dict[str, dict[str, Any]] = {}  # oid -> facts (or {"error": ...}), borrowed
    if cache is not None:
        base = base_tree(change)
        for donor in (tree_key(base.py) if base else None, cache.last()):
            got = cache.load_raw(donor) if donor else None
            if got:
                known = got
                break
    facts: dict[str, dict[str, Any]] = {}
    unparsed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    by_oid: dict[str, dict[str, Any]] = {}
    # ast.parse makes millions of short-lived, acyclic objects: the cyclic
    # collector only slows it (by ~30% on a 28 MB tree); the trees are freed
    # by reference counting as each file's facts are taken.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        _read_all(change, tree, known, by_oid, facts, unparsed, skipped)
    finally:
        if gc_was_on:
            gc.enable()
    if cache is not None:
        cache.store(key, by_oid, skipped, tree)
    return Summary(facts, unparsed, skipped, tree, key, False)


def _read_all(
    change: Change,
    tree: Tree,
    known: dict[str, dict[str, Any]],
    by_oid: dict[str, dict[str, Any]],
    facts: dict[str, dict[str, Any]],
    unparsed: dict[str, str],
    skipped: dict[str, str],
) -> None:
    total = 0
    for n, path in enumerate(sorted(tree.py)):
        entry = tree.py[path]
        if n >= MAX_FILES:
            skipped[path] = f"more than {MAX_FILES} Python files in the tree"
            continue
        got = known.get(entry.oid)
        size = entry.size if entry.size is not None else (got or {}).get("size")
        data: bytes | None = None
        if size is None:
            data = change.read(entry.oid) or b""
            size = len(data)
        if size > MAX_FILE_BYTES:
            # One huge file (generated tables, vendored data) is not summarised;
            # if the change adds it, the semgrep check's max_file_bytes blocks it.
            unparsed[path] = f"larger than {MAX_FILE_BYTES} bytes, not summarised"
            continue
        if total + size > MAX_TOTAL_BYTES:
            skipped[path] = f"the tree's Python files exceed {MAX_TOTAL_BYTES} bytes"
            continue
        total += size
        if got is None:
            if data is None:
                data = change.read(entry.oid) or b""
            got = _parse(data, path)
        got = {**got, "size": size}
        by_oid[entry.oid] = got
        if "error" in got:
            unparsed[path] = str(got["error"])
        else:
            facts[path] = got


def _parse(data: bytes, path: str) -> dict[str, Any]:
    STATS["parsed"] += 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"error": f"not UTF-8 ({exc.reason} at byte {exc.start})"}
    try:
        return factsmod.extract(text, path)
    except SyntaxError as exc:
        return {"error": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
    except (ValueError, RecursionError, MemoryError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def parse_blob(change: Change, oid: str | None, path: str) -> dict[str, Any] | None:
    """Facts of one blob outside the summary (the base side of a changed file)."""
    if oid is None:
        return None
    data = change.read(oid)
    if data is None or len(data) > MAX_FILE_BYTES:
        return None
    got = _parse(data, path)
    return None if "error" in got else got


class _Cache:
    """``<cache_dir>/reach/<salt>/<tree key>.json``; a corrupt, foreign or
    unreadable entry is a miss, and a cache that cannot be written only costs
    speed (as the semgrep check's cache)."""

    KEEP = 8

    def __init__(self, root: Path, repo: Path) -> None:
        self.dir = root / "reach" / _SALT
        self.pointer = self.dir / ("last-" + hashlib.sha256(str(repo).encode()).hexdigest()[:16])

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def load_raw(self, key: str) -> dict[str, dict[str, Any]] | None:
        try:
            doc = json.loads(self._path(key).read_text(encoding="utf-8"))
            if doc.get("key") != key or not isinstance(doc.get("blobs"), dict):
                return None
            return dict(doc["blobs"])
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(self._path(key).read_text(encoding="utf-8"))
            if doc.get("key") != key:
                return None
            blobs: dict[str, dict[str, Any]] = doc["blobs"]
            facts = {p: blobs[o] for p, o in doc["files"].items() if "error" not in blobs[o]}
            unparsed = {
                p: str(blobs[o]["error"]) for p, o in doc["files"].items() if "error" in blobs[o]
            }
            for got in facts.values():
                if not {"defs", "classes", "aliases", "calls"} <= got.keys():
                    return None
            return {"facts": facts, "unparsed": unparsed, "skipped": dict(doc["skipped"])}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def last(self) -> str | None:
        try:
            return self.pointer.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def store(
        self,
        key: str,
        blobs: dict[str, dict[str, Any]],
        skipped: dict[str, str],
        tree: Tree,
    ) -> None:
        files = {p: tree.py[p].oid for p in sorted(tree.py) if tree.py[p].oid in blobs}
        doc = {"key": key, "files": files, "blobs": blobs, "skipped": skipped}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self._path(key), json.dumps(doc, separators=(",", ":")))
            _atomic_write(self.pointer, key)
            self._prune()
        except OSError:
            pass

    def _prune(self) -> None:
        """Keep the newest KEEP trees: one entry per tree would otherwise grow
        by the tree's facts (~10 MB for 2,000 files) on every commit."""
        entries = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self.KEEP :]:
            old.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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
