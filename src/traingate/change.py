"""The change under review: which files changed, how, and their contents.

A ``Change`` is built from one of three sources (``--staged``, ``--base/--head``,
the working tree, or a plain tree for ``scan``); checks read content through it
and never touch git or the disk themselves.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traingate import git
from traingate.errors import GitError

SNIFF_BYTES = 8000  # the same window git uses to call a file binary


class Status(str, enum.Enum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"
    COPIED = "copied"
    TYPE_CHANGED = "type_changed"


_STATUS = {
    "A": Status.ADDED,
    "M": Status.MODIFIED,
    "D": Status.DELETED,
    "R": Status.RENAMED,
    "C": Status.COPIED,
    "T": Status.TYPE_CHANGED,
}

MODE_FILE = "100644"
MODE_EXEC = "100755"
MODE_SYMLINK = "120000"
MODE_GITLINK = "160000"


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:SNIFF_BYTES]


class AllLines(Sequence[int]):
    """Lines 1..n of a file added whole (a scan, an untracked file): a range,
    not a tuple of n ints (issue #17: 44 MB for a 1.66 M-line scan). Equal to,
    and hashed like, the tuple it stands for."""

    __slots__ = ("_r",)

    def __init__(self, n: int) -> None:
        self._r = range(1, n + 1)

    def __len__(self) -> int:
        return len(self._r)

    def __getitem__(self, i: Any) -> Any:
        got = self._r[i]
        return tuple(got) if isinstance(got, range) else got

    def __iter__(self) -> Iterator[int]:
        return iter(self._r)

    def __contains__(self, n: object) -> bool:
        return n in self._r

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AllLines):
            return self._r == other._r
        return isinstance(other, tuple) and len(other) == len(self._r) and other == tuple(self._r)

    def __hash__(self) -> int:
        return hash(tuple(self._r))

    def __repr__(self) -> str:
        return f"AllLines({len(self._r)})"


@dataclass(frozen=True)
class ChangedFile:
    """One changed path; line numbers are 1-based, on the new (added) or old side."""

    status: Status
    old_path: str | None
    new_path: str | None
    old_mode: str | None
    new_mode: str | None
    old_oid: str | None
    new_oid: str | None
    added_lines: Sequence[int] = ()
    removed_lines: Sequence[int] = ()
    similarity: int | None = None

    @property
    def path(self) -> str:
        """The path a report names: the new one, or the old one for deletions."""
        return self.new_path if self.new_path is not None else self.old_path or ""

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the change touches: renames count against both sides."""
        both = (self.old_path, self.new_path)
        return tuple(dict.fromkeys(p for p in both if p is not None))

    @property
    def is_symlink(self) -> bool:
        return self.new_mode == MODE_SYMLINK

    @property
    def is_gitlink(self) -> bool:
        return self.new_mode == MODE_GITLINK or self.old_mode == MODE_GITLINK

    @property
    def mode_changed(self) -> bool:
        return (
            self.old_mode is not None
            and self.new_mode is not None
            and self.old_mode != self.new_mode
        )


@dataclass
class Change:
    """A change: files plus lazy access to old and new content."""

    root: Path
    mode: str  # "staged" | "range" | "worktree" | "scan"
    files: list[ChangedFile]
    base: str | None = None  # where the trusted policy is read from
    head: str | None = None
    merge_base: str | None = None
    _reader: git.BlobReader | None = None
    _disk: dict[str, Path] = field(default_factory=dict)  # oid -> file (worktree/scan)
    _aliases: dict[bool, dict[str, tuple[str, ...]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The signed cache (traingate.cache.Signed) for what is fixed by a commit id,
    # e.g. a commit's symlinks (issue #17); None: compute everything.
    cache_dir: Path | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[ChangedFile]:
        return iter(self.files)

    def aliases(self, *, fold: bool = False) -> dict[str, tuple[str, ...]]:
        """Each touched path's other names through symlinks of the base or head
        tree (issue #14), computed once: requirements and CODEOWNERS share it."""
        if fold not in self._aliases:
            from traingate.aliases import changed_aliases

            self._aliases[fold] = changed_aliases(self, fold=fold)
        return self._aliases[fold]

    def read(self, oid: str | None) -> bytes | None:
        """Content of a blob id, from git or (worktree, scan) from disk."""
        if oid is None or git.NULL_OID_RE.match(oid):
            return None
        disk = self._disk.get(oid)
        if disk is not None:
            return _read_disk(disk)
        if self._reader is None:
            raise GitError(f"no object database to read {oid} from")
        return self._reader.read(oid)

    @property
    def reader(self) -> git.BlobReader | None:
        """The change's one cat-file process, for reading the trusted policy too."""
        return self._reader

    def prefetch(self, oids: Iterable[str | None]) -> None:
        """Read many blobs in one git process before checks ask for them."""
        if self._reader is not None:
            self._reader.read_many([o for o in oids if o and o not in self._disk])

    def new_text(self, f: ChangedFile) -> str | None:
        """Decoded new content, or None for deletions, binaries, links and gitlinks."""
        return _text(self.read(f.new_oid)) if _is_blob(f.new_mode) else None

    def old_text(self, f: ChangedFile) -> str | None:
        return _text(self.read(f.old_oid)) if _is_blob(f.old_mode) else None


def _is_blob(mode: str | None) -> bool:
    return mode is not None and mode.startswith("100")


def _text(data: bytes | None) -> str | None:
    if data is None or is_binary(data):
        return None
    return data.decode("utf-8", "replace")


def _read_disk(path: Path) -> bytes:
    if path.is_symlink():
        return os.fsencode(os.readlink(path))
    return path.read_bytes()


def _from_diff(pairs: list[tuple[git.RawEntry, git.PatchSection]]) -> list[ChangedFile]:
    files = []
    for raw, section in pairs:
        status = _STATUS.get(raw.status)
        if status is None:
            raise GitError(
                f"unexpected diff status {raw.status!r} for {raw.new_path!r} (unmerged?)"
            )
        old = None if status is Status.ADDED else raw.old_path
        new = None if status is Status.DELETED else raw.new_path
        files.append(
            ChangedFile(
                status=status,
                old_path=old,
                new_path=new,
                old_mode=None if status is Status.ADDED else raw.old_mode,
                new_mode=None if status is Status.DELETED else raw.new_mode,
                old_oid=None if status is Status.ADDED else raw.old_oid,
                new_oid=None if status is Status.DELETED else raw.new_oid,
                added_lines=section.added,
                removed_lines=section.removed,
                similarity=raw.score,
            )
        )
    return files


def staged(cwd: str | Path) -> Change:
    """The index against HEAD: what ``git commit`` would record."""
    root, head = git.toplevel_and_head(cwd)
    against = head or git.empty_tree(root)
    files = _from_diff(git.diff(root, against, cached=True))
    change = Change(root, "staged", files, base=head, head=None, _reader=git.BlobReader(root))
    return _fix_binary_sections(change)


def revision_range(cwd: str | Path, base: str, head: str = "HEAD") -> Change:
    """merge-base(base, head)..head; the trusted policy comes from ``base``."""
    root = git.toplevel(cwd)
    base_sha = git.require_commit(root, base, "base")
    head_sha = git.require_commit(root, head, "head")
    mb = git.merge_base(root, base_sha, head_sha)
    files = _from_diff(git.diff(root, mb, head_sha))
    change = Change(
        root,
        "range",
        files,
        base=base_sha,
        head=head_sha,
        merge_base=mb,
        _reader=git.BlobReader(root),
    )
    return _fix_binary_sections(change)


def pre_push(cwd: str | Path, from_ref: str | None, to_ref: str | None) -> Change:
    """The commits a push sends: from_ref..to_ref, or, for a new branch (all-zero
    from_ref), the commits no remote-tracking branch has yet."""
    root = git.toplevel(cwd)
    to = to_ref or "HEAD"
    if from_ref and not git.NULL_OID_RE.match(from_ref) and git.resolve_commit(root, from_ref):
        return revision_range(root, from_ref, to)
    new = git.rev_list(root, "--reverse", to, "--not", "--remotes")
    if not new:
        return revision_range(root, to, to)  # nothing new: an empty change
    parent = git.resolve_commit(root, f"{new[0]}^")
    if parent is None:
        head = git.require_commit(root, to, "head")
        files = _from_diff(git.diff(root, git.empty_tree(root), head))
        return Change(root, "range", files, base=None, head=head, _reader=git.BlobReader(root))
    return revision_range(root, parent, to)


def worktree(cwd: str | Path) -> Change:
    """The working tree (tracked changes plus untracked, non-ignored files) against HEAD."""
    root, head = git.toplevel_and_head(cwd)
    against = head or git.empty_tree(root)
    fmt = git.object_format(root)
    disk: dict[str, Path] = {}
    files = []
    for f in _from_diff(git.diff(root, against)):
        if f.new_path is not None and f.new_oid is not None and git.NULL_OID_RE.match(f.new_oid):
            f = _with_disk_oid(f, root / f.new_path, fmt, disk)
        files.append(f)
    for rel in git.untracked(root):
        path = root / rel
        data = _read_disk(path)
        oid = git.hash_blob(data, fmt)
        disk[oid] = path
        text = None if is_binary(data) else data
        files.append(
            ChangedFile(
                status=Status.ADDED,
                old_path=None,
                new_path=rel,
                old_mode=None,
                new_mode=_disk_mode(path),
                old_oid=None,
                new_oid=oid,
                added_lines=AllLines(_count_lines(text)) if text is not None else (),
            )
        )
    change = Change(root, "worktree", files, base=head, _reader=git.BlobReader(root), _disk=disk)
    return _fix_binary_sections(change)


def _with_disk_oid(f: ChangedFile, path: Path, fmt: str, disk: dict[str, Path]) -> ChangedFile:
    oid = git.hash_blob(_read_disk(path), fmt)
    disk[oid] = path
    return ChangedFile(**{**f.__dict__, "new_oid": oid})


def _disk_mode(path: Path) -> str:
    if path.is_symlink():
        return MODE_SYMLINK
    return MODE_EXEC if os.access(path, os.X_OK) else MODE_FILE


def _count_lines(data: bytes | None) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _fix_binary_sections(change: Change) -> Change:
    """Recompute lines where git said "binary" but the content is text.

    A ``.gitattributes`` entry (``*.py -diff`` or ``binary``) makes git hide a
    text file's diff; the gate must still see every added line.
    """
    suspects = [f for f in change.files if not f.added_lines and _is_blob(f.new_mode)]
    if not suspects:
        return change
    change.prefetch([o for f in suspects for o in (f.old_oid, f.new_oid)])
    fixed = []
    for f in change.files:
        if f in suspects:
            f = _recount(change, f)
        fixed.append(f)
    change.files = fixed
    return change


def _recount(change: Change, f: ChangedFile) -> ChangedFile:
    import difflib

    new = change.read(f.new_oid)
    if new is None or is_binary(new) or not new:
        return f
    old = change.read(f.old_oid) if _is_blob(f.old_mode) else None
    if old is not None and old == new:
        return f
    new_lines = new.decode("utf-8", "replace").splitlines()
    old_lines = [] if old is None else old.decode("utf-8", "replace").splitlines()
    added: list[int] = []
    removed: list[int] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            added.extend(range(j1 + 1, j2 + 1))
        if tag in ("replace", "delete"):
            removed.extend(range(i1 + 1, i2 + 1))
    return ChangedFile(
        **{**f.__dict__, "added_lines": tuple(added), "removed_lines": tuple(removed)}
    )


def scan_paths(paths: Iterable[str | Path], root: str | Path | None = None) -> Change:
    """Every file under ``paths`` as if newly added: ``traingate scan``."""
    base_dir = Path(root or os.getcwd()).resolve()
    fmt = "sha1"
    disk: dict[str, Path] = {}
    files = []
    for path in _walk(paths):
        data = _read_disk(path)
        oid = git.hash_blob(data, fmt)
        disk[oid] = path
        try:
            rel = (
                path.resolve().relative_to(base_dir).as_posix()
                if not path.is_symlink()
                else path.relative_to(base_dir).as_posix()
            )
        except ValueError:
            rel = path.as_posix()
        files.append(
            ChangedFile(
                status=Status.ADDED,
                old_path=None,
                new_path=rel,
                old_mode=None,
                new_mode=_disk_mode(path),
                old_oid=None,
                new_oid=oid,
                added_lines=AllLines(_count_lines(None if is_binary(data) else data)),
            )
        )
    files.sort(key=lambda f: f.path)
    return Change(base_dir, "scan", files, _disk=disk)


_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _walk(paths: Iterable[str | Path]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_symlink() or p.is_file():
            yield p
        elif p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
                for name in sorted(filenames):
                    yield Path(dirpath) / name
        else:
            from traingate.errors import UsageError

            raise UsageError(f"{p}: no such file or directory")
