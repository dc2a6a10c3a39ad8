"""Property test: the diff engine round-trips random trees changed with real git.

Random base and head trees (odd path bytes: spaces, newlines, quotes, leading
dashes, NFC/NFD twins; files, executables, symlinks, binaries, CRLF, missing
final newlines; renames, copies, type changes) are committed with real git. The
change traingate reads must match the trees exactly, judged without git's help:

- the paths touched are exactly those whose kind or content differs;
- every status agrees with the two trees; object ids are the blobs' hashes;
- the unchanged lines agree: the new content minus the added lines equals the
  old content minus the removed lines (for every text pair).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from traingate import change as changes
from traingate.change import Status
from traingate.git import hash_blob

from .conftest import Repo
from .fuzz import fuzz

Kind = str  # "file" | "exec" | "link"
Tree = dict[str, tuple[Kind, bytes]]
MODES = {"file": "100644", "exec": "100755", "link": "120000"}

_CHARS = "ab -_'\"\n\té\u0301ü.$*"
_LINES = [
    b"import os",
    b"x = 1",
    b"y = x + 1",
    b"",
    b"def f():",
    b"    return 2",
    b"a\r",
    b"\xc3\xa9",
]

components = st.text(alphabet=_CHARS, min_size=1, max_size=5).filter(
    lambda c: c not in (".", "..") and c.casefold() != ".git"
)
paths = st.lists(components, min_size=1, max_size=2).map("/".join)


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=40)) + b"\0"  # binary to git
    lines = draw(st.lists(st.sampled_from(_LINES), max_size=8))
    body = b"\n".join(lines)
    return body + b"\n" if bool(lines) and draw(st.booleans()) else body


def _consistent(tree: Tree) -> bool:
    """No path is also a directory of another path."""
    dirs = {p.rsplit("/", 1)[0] for p in tree if "/" in p}
    prefixes = {"/".join(d.split("/")[: i + 1]) for d in dirs for i in range(d.count("/") + 1)}
    return not prefixes & set(tree)


@st.composite
def entries(draw: st.DrawFn) -> tuple[Kind, bytes]:
    kind = draw(st.sampled_from(["file", "file", "exec", "link"]))
    if kind == "link":
        return kind, draw(paths).encode()
    return kind, draw(contents())


@st.composite
def tree_pairs(draw: st.DrawFn) -> tuple[Tree, Tree]:
    base: Tree = draw(st.dictionaries(paths, entries(), max_size=6).filter(_consistent))
    head: Tree = dict(base)
    for path in sorted(base):
        op = draw(st.sampled_from(["keep", "modify", "delete", "rename", "copy", "mode", "retype"]))
        kind, data = base[path]
        if op == "modify":
            head[path] = (kind, draw(contents()) if kind != "link" else draw(paths).encode())
        elif op == "delete":
            del head[path]
        elif op in ("rename", "copy"):
            if op == "rename":
                del head[path]
            tweak = draw(st.sampled_from([b"", b"z = 3\n"]))
            head[draw(paths)] = (kind, data + tweak if kind != "link" else data)
        elif op == "mode" and kind != "link":
            head[path] = ("exec" if kind == "file" else "file", data)
        elif op == "retype":
            head[path] = ("file", data) if kind == "link" else ("link", b"target")
    for path, entry in draw(st.dictionaries(paths, entries(), max_size=3)).items():
        head[path] = entry
    if not _consistent(head):
        head = {p: e for p, e in head.items() if _consistent({**base, p: e})}
        if not _consistent(head):
            head = dict(base)
    return base, head


def _materialize(repo: Repo, tree: Tree) -> str:
    repo.git("rm", "-rq", "--cached", "--ignore-unmatch", ".")
    for entry in repo.path.iterdir():
        if entry.name != ".git":
            _remove(entry)
    for path, (kind, data) in tree.items():
        target = repo.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "link":
            os.symlink(os.fsdecode(data), target)
        else:
            target.write_bytes(data)
            target.chmod(0o755 if kind == "exec" else 0o644)
    return repo.commit("tree")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        for child in p.iterdir():
            _remove(child)
        p.rmdir()
    else:
        p.unlink()


def _lines(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return parts[:-1] if data.endswith(b"\n") else parts if data else []


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _check_lines(f: changes.ChangedFile, old: bytes | None, new: bytes | None) -> None:
    if (old is not None and _is_binary(old)) or (new is not None and _is_binary(new)):
        return  # no line numbers for binary content
    new_lines, old_lines = _lines(new or b""), _lines(old or b"")
    added, removed = set(f.added_lines), set(f.removed_lines)
    assert added <= set(range(1, len(new_lines) + 1)), (f, added)
    assert removed <= set(range(1, len(old_lines) + 1)), (f, removed)
    kept_new = [ln for i, ln in enumerate(new_lines, 1) if i not in added]
    kept_old = [ln for i, ln in enumerate(old_lines, 1) if i not in removed]
    assert kept_new == kept_old, (f, old, new)


@fuzz(40)
@given(tree_pairs())
def test_diff_round_trips_random_trees(pair: tuple[Tree, Tree]) -> None:
    base, head = pair
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(Path(tmp) / "repo")
        repo.write(".keep", "")  # the root commit is never empty
        base_sha = _materialize(repo, {".keep": ("file", b""), **base})
        head_sha = _materialize(repo, {".keep": ("file", b""), **head})
        change = changes.revision_range(repo.path, base_sha, head_sha)

    changed = {p for p in base.keys() | head.keys() if base.get(p) != head.get(p)}
    assert {p for f in change.files for p in f.paths} == changed
    new_paths = [f.new_path for f in change.files if f.new_path is not None]
    assert sorted(new_paths) == sorted(p for p in changed if p in head)
    gone = [f.old_path for f in change.files if f.status in (Status.DELETED, Status.RENAMED)]
    assert sorted(p for p in gone if p is not None) == sorted(p for p in changed if p not in head)
    for f in change.files:
        old = base.get(f.old_path) if f.old_path is not None else None
        new = head.get(f.new_path) if f.new_path is not None else None
        expect = {
            Status.ADDED: old is None and new is not None and f.new_path not in base,
            Status.DELETED: new is None and old is not None and f.old_path not in head,
            Status.MODIFIED: f.old_path == f.new_path and old is not None and new is not None,
            Status.RENAMED: f.old_path not in head and f.new_path not in base,
            # one source copied to several paths may also be renamed (deleted)
            Status.COPIED: old is not None and f.new_path not in base,
            Status.TYPE_CHANGED: old is not None
            and new is not None
            and (old[0] == "link") != (new[0] == "link"),
        }[f.status]
        assert expect, (f, old, new)
        if new is not None:
            assert (f.new_mode, f.new_oid) == (MODES[new[0]], hash_blob(new[1])), f
        if old is not None:
            assert (f.old_mode, f.old_oid) == (MODES[old[0]], hash_blob(old[1])), f
        _check_lines(f, old[1] if old else None, new[1] if new else None)
