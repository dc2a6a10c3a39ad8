"""The head tree's listing for ``reach`` (and ``sabotage``'s imports): which
Python files a change's tree holds, with their sizes (the caps), and the other
blobs (requirement files). Kept by commit id in the signed cache (issue #17).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git
from traingate.change import Change, Status


@dataclass
class Entry:
    oid: str
    size: int | None  # from `ls-tree -l`; None for blobs laid over from the change


@dataclass
class Tree:
    """The Python files of a tree and the requirement files beside them."""

    py: dict[str, Entry] = field(default_factory=dict)
    other: dict[str, Entry] = field(default_factory=dict)  # every other blob


def _ls_tree(root: Path, rev: str, cache_dir: Path | None = None) -> Tree:
    """The listing of a commit, kept in the signed cache when there is one
    (issue #17: ``-l`` reads every blob's header, ~90 ms for 5,900 files on
    every hook run; the rest of the warm path is a few ms). A commit id fixes
    its tree, so an entry never goes stale; one that does not verify is a miss
    (traingate.cache.Signed), never a shorter listing: the caps and the
    registry search read it, and a file left out would hide its sinks."""
    if cache_dir is None or not _COMMIT_ID.fullmatch(rev):
        return _listing(root, rev)
    from traingate import cache

    store = cache.Signed(cache_dir, "reach-tree-v1")
    key = cache.key("reach-tree-v1", cache.installation(), rev)
    tree = _tree_from(store.get(key))
    if tree is None:
        tree = _listing(root, rev)
        store.put(key, {k: {p: [e.oid, e.size] for p, e in v.items()} for k, v in _parts(tree)})
    return tree


_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _parts(tree: Tree) -> tuple[tuple[str, dict[str, Entry]], ...]:
    return (("py", tree.py), ("other", tree.other))


def _tree_from(doc: Any) -> Tree | None:
    """A cached listing, or None unless every entry has the listing's shape."""
    if type(doc) is not dict or set(doc) != {"py", "other"}:
        return None
    tree = Tree()
    for name, into in _parts(tree):
        part = doc[name]
        if type(part) is not dict:
            return None
        for path, value in part.items():
            if type(value) is not list or len(value) != 2:
                return None
            oid, size = value
            if type(oid) is not str or not _COMMIT_ID.fullmatch(oid) or type(size) is not int:
                return None
            into[path] = Entry(oid, size)
    return tree


def _listing(root: Path, rev: str) -> Tree:
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
        return _ls_tree(change.root, change.head, change.cache_dir)
    base = change.merge_base or change.base
    tree = (
        _ls_tree(change.root, base, change.cache_dir) if base and change.mode != "scan" else Tree()
    )
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
