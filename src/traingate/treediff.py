"""Compare files on disk with a git tree, byte for byte (issue #20).

What a job runs is what is on disk, so ``traingate verify`` and the editable
installs of ``env verify`` compare the directory itself with the tree that
passed the gate: every tracked file by its blob id (hashed here from the raw
bytes: no clean/smudge filter, no textconv, no ``git status``, nothing the
repository configures runs), every file git does not track (untracked and
ignored alike: an ignored ``evil.py`` imports as well as a tracked one), the
executable bit, and symlink targets. ``__pycache__`` files whose code matches
their unchanged source are not differences (see traingate.env.pyc).
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traingate import git
from traingate.errors import UsageError


@dataclass(frozen=True)
class Difference:
    path: str  # relative to the compared directory, posix
    kind: str  # modified | missing | untracked | mode | type | submodule | pyc
    detail: str

    def render(self) -> str:
        return f"{self.path}: {self.detail}"


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    oid: str


def listing(root: Path, tree: str) -> dict[str, TreeEntry]:
    """Every entry of ``tree``, recursively (blobs, symlinks and gitlinks)."""
    out = git.run(root, "ls-tree", "-r", "-z", "--full-tree", tree)
    entries: dict[str, TreeEntry] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, _, name = rec.partition(b"\t")
        mode, _kind, oid = meta.decode().split()
        entries[name.decode("utf-8", "surrogateescape")] = TreeEntry(mode, oid)
    return entries


def compare(
    root: Path,
    tree: str,
    directory: Path,
    *,
    exclude: list[str] | None = None,
) -> list[Difference]:
    """Every difference between ``directory`` and ``tree``, sorted by path."""
    from traingate.env import pyc

    fmt = git.object_format(root)
    entries = listing(root, tree)
    spec = _spec(exclude or [])
    diffs: list[Difference] = []
    seen: set[str] = set()
    pycs: list[tuple[str, str, int, str]] = []
    for rel, full in _files(directory):
        if spec is not None and spec.match_file(rel):
            continue
        seen.add(rel)
        entry = entries.get(rel)
        if entry is None:
            src = _pyc_source(rel)
            if src is not None and src[0] in entries:
                pycs.append((full, str(directory / src[0]), src[1], rel))
                continue
            diffs.append(Difference(rel, "untracked", "not in the tree (untracked or ignored)"))
            continue
        diff = _compare_one(rel, full, entry, fmt)
        if diff is not None:
            diffs.append(diff)
    for rel, entry in entries.items():
        if rel in seen or (spec is not None and spec.match_file(rel)):
            continue
        if entry.mode == "160000":
            diffs.append(_submodule(rel))
        else:
            diffs.append(Difference(rel, "missing", "in the tree but not on disk"))
    # A pyc counts only while its source is exactly the tree's (checked above).
    changed = {d.path for d in diffs}
    jobs = [(p, s, o) for p, s, o, rel in pycs if os.path.relpath(s, directory) not in changed]
    results = pyc.check(jobs) if jobs else {}
    for full_pyc, source, _opt, rel in pycs:
        if os.path.relpath(source, directory) in changed:
            diffs.append(Difference(rel, "pyc", "compiled from a source that differs"))
            continue
        result, detail = results.get(full_pyc, ("error", "not checked"))
        if result != "match":
            diffs.append(Difference(rel, "pyc", f"does not match its source: {detail}"))
    return sorted(diffs, key=lambda d: d.path)


def _spec(patterns: list[str]) -> Any:
    """--exclude patterns, as .gitignore reads them (traingate.paths)."""
    if not patterns:
        return None
    from traingate.paths import compile_patterns

    try:
        return compile_patterns(patterns)
    except ValueError as exc:
        raise UsageError(f"bad --exclude pattern: {exc}") from exc


def _files(directory: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    top = str(directory)
    for dirpath, dirnames, filenames in os.walk(top):
        if dirpath == top and ".git" in dirnames:
            dirnames.remove(".git")
        dirnames.sort()
        names = list(filenames)
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                names.append(d)  # a symlink to a directory is one entry, as git sees it
                dirnames.remove(d)
        for name in sorted(names):
            if dirpath == top and name == ".git":
                continue  # a worktree's or submodule's .git file
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, top).replace(os.sep, "/"), full))
    return out


def _compare_one(rel: str, full: str, entry: TreeEntry, fmt: str) -> Difference | None:
    st = os.lstat(full)
    if entry.mode == "160000":
        return _submodule(rel)
    if entry.mode == "120000":
        if not stat.S_ISLNK(st.st_mode):
            return Difference(rel, "type", "a symlink in the tree, a regular file on disk")
        target = os.fsencode(os.readlink(full))
        if git.hash_blob(target, fmt) != entry.oid:
            return Difference(rel, "modified", "symlink target differs")
        return None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return Difference(rel, "type", "a regular file in the tree, not on disk")
    with open(full, "rb") as fh:
        data = fh.read()
    if git.hash_blob(data, fmt) != entry.oid:
        return Difference(rel, "modified", "content differs")
    executable = bool(st.st_mode & 0o100)
    if executable != (entry.mode == "100755"):
        return Difference(rel, "mode", "executable bit differs")
    return None


def _submodule(rel: str) -> Difference:
    return Difference(
        rel, "submodule", "a submodule: its content is not verified (issue #20); vendor it instead"
    )


def _pyc_source(rel: str) -> tuple[str, int] | None:
    parts = rel.split("/")
    if len(parts) < 2 or parts[-2] != "__pycache__":
        return None
    from traingate.env.scan import pyc_source

    found = pyc_source("/" + rel, sys.implementation.cache_tag or "")
    if found is None:
        return None
    source, opt = found
    return source.lstrip("/"), opt
