"""All git access lives here.

(Over 600 lines: every git invocation in one module, so that the scrubbed
environment, ``-z`` and the output dialect are decided in one place.)

Rules this module keeps (see docs/security/threat-model.md):
- git runs with an environment scrubbed of inherited ``GIT_*`` variables that
  could redirect it (``GIT_DIR``, ``GIT_INDEX_FILE``, ``GIT_CONFIG_*``...) and
  with replace refs disabled, so a pushed ``refs/replace/*`` cannot swap the
  content we read;
- diffs use ``--no-ext-diff --no-textconv`` and ``-z``: nothing configured by
  the change runs, and any byte sequence is a valid path;
- content is read by blob id with ``cat-file``; the change is never checked out.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from traingate.errors import GitError, UsageError

# Kept from the caller's environment: what CI needs to fetch over the network.
_KEEP_GIT_VARS = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSL_CAINFO",
        "GIT_SSL_NO_VERIFY",
        "GIT_ASKPASS",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_ALLOW_PROTOCOL",
    }
)

# Per-invocation config: never run repository-configured helpers, never take a
# lock on the index just to read, and read git in ONE fixed output dialect
# (issue #14, class 7). ``-c`` is read after the system, global, repository and
# include files, so these win whatever the runner's or the repository's config
# says (``i18n.logOutputEncoding=UTF-16`` once turned every identity into
# UTF-16 and let the author approve their own change). System config is still
# read (GIT_CONFIG_NOSYSTEM stays off): it carries the runner's proxy, CA and
# safe.directory settings, and everything in it that shapes output is pinned here.
_SAFE_CONFIG = (
    # Helpers and side effects.
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    # Encodings and quoting: logs, identities and messages in UTF-8; paths raw.
    "-c",
    "i18n.logOutputEncoding=UTF-8",
    "-c",
    "i18n.commitEncoding=UTF-8",
    "-c",
    "core.quotepath=off",
    # No colour escapes, no signature output (showSignature also runs gpg.program),
    # no decorations, full ids, no .mailmap from the change rewriting identities.
    "-c",
    "color.ui=never",
    "-c",
    "color.diff=never",
    "-c",
    "log.showSignature=false",
    "-c",
    "log.decorate=false",
    "-c",
    "log.abbrevCommit=false",
    "-c",
    "log.mailmap=false",
    "-c",
    "log.showRoot=true",
    "-c",
    "format.pretty=medium",
    "-c",
    "core.abbrev=no",
    # Patch shape: prefixes, paths, hunks (interHunkContext merges -U0 hunks and
    # adds unchanged lines to "added"), file order, submodule sections, binary
    # detection; context and algorithm also feed `git patch-id`.
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.srcPrefix=a/",
    "-c",
    "diff.dstPrefix=b/",
    "-c",
    "diff.relative=false",
    "-c",
    "diff.renames=true",
    "-c",
    "diff.context=3",
    "-c",
    "diff.interHunkContext=0",
    "-c",
    "diff.algorithm=myers",
    "-c",
    "diff.indentHeuristic=true",
    "-c",
    "diff.suppressBlankEmpty=false",
    "-c",
    "diff.orderFile=/dev/null",
    "-c",
    "diff.submodule=short",
    "-c",
    "core.bigFileThreshold=512m",
    "-c",
    "patchid.stable=true",
    "-c",
    "patchid.verbatim=false",
    # merge-tree (approvals replay): which tree a clean merge writes.
    "-c",
    "merge.renames=true",
    "-c",
    "merge.directoryRenames=conflict",
    "-c",
    "merge.renormalize=false",
    "-c",
    "merge.conflictStyle=merge",
    # Trailer parsing (coauthors): an alphanumeric comment char turns trailer
    # lines into "comments", other separators change which lines are trailers.
    "-c",
    "core.commentChar=#",
    "-c",
    "core.commentString=#",
    "-c",
    "trailer.separators=:",
)

NULL_OID_RE = re.compile(r"^0+$")


def git_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every git call (also used for ssh-keygen etc.)."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("GIT_") or k in _KEEP_GIT_VARS
    }
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_CONFIG_NOSYSTEM": env.get("GIT_CONFIG_NOSYSTEM", "0"),
            "LC_ALL": "C",
        }
    )
    return env


def command(*args: str) -> list[str]:
    """The argv of a git call in the fixed dialect: every git spawn goes through here."""
    return ["git", *_SAFE_CONFIG, *args]


def run(cwd: str | Path, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
    """Run git and return stdout; raise GitError naming the command on failure."""
    cmd = command(*args)
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, input=stdin, capture_output=True, env=git_env(), check=False
        )
    except FileNotFoundError as exc:  # pragma: no cover - git is a prerequisite
        raise GitError("git is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"`git {' '.join(args[:3])}` failed: {err}")
    return proc.stdout


def toplevel(cwd: str | Path) -> Path:
    try:
        out = run(cwd, "rev-parse", "--show-toplevel")
    except GitError as exc:
        raise UsageError(
            f"{cwd} is not inside a git work tree",
            help="run traingate from the repository you want to check",
        ) from exc
    return Path(out.decode().strip())


def toplevel_and_head(cwd: str | Path) -> tuple[Path, str | None]:
    """``toplevel(cwd)`` and ``resolve_commit(root, "HEAD")`` from one git process
    (issue #17: every hook run asks both; a process costs ~3 ms)."""
    proc = subprocess.run(
        command(
            "rev-parse",
            "--show-toplevel",
            "--verify",
            "--quiet",
            "--end-of-options",
            "HEAD^{commit}",
        ),
        cwd=cwd,
        capture_output=True,
        env=git_env(),
        check=False,
    )
    lines = proc.stdout.removesuffix(b"\n").split(b"\n") if proc.stdout else []
    # 0: the top level, then HEAD's id; 1 (--verify --quiet): no HEAD commit yet,
    # the top level alone; anything else (128): not in a work tree.
    if proc.returncode == 0 and len(lines) >= 2 and _OID_RE.match(lines[-1].decode()):
        return Path(b"\n".join(lines[:-1]).decode().strip()), lines[-1].decode()
    if proc.returncode == 1 and lines:
        return Path(b"\n".join(lines).decode().strip()), None
    raise UsageError(
        f"{cwd} is not inside a git work tree",
        help="run traingate from the repository you want to check",
    )


def object_format(cwd: str | Path) -> str:
    out = run(cwd, "rev-parse", "--show-object-format", check=False).decode().strip()
    return out or "sha1"


def resolve_commit(cwd: str | Path, rev: str) -> str | None:
    """The full commit id for ``rev``, or None when it does not exist."""
    out = run(
        cwd,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{rev}^{{commit}}",
        check=False,
    )
    sha = out.decode().strip()
    return sha or None


def require_commit(cwd: str | Path, rev: str, what: str) -> str:
    sha = resolve_commit(cwd, rev)
    if sha is None:
        raise UsageError(
            f"{what} revision {rev!r} does not exist in this repository",
            help="fetch it first (`git fetch origin <branch>`), or unshallow the clone",
        )
    return sha


def merge_base(cwd: str | Path, a: str, b: str) -> str:
    out = run(cwd, "merge-base", a, b, check=False).decode().strip()
    if not out:
        raise UsageError(
            f"no merge base between {a[:12]} and {b[:12]}",
            help="the history may be shallow: `git fetch --unshallow` or fetch more depth",
        )
    return out.splitlines()[0]


def empty_tree(cwd: str | Path) -> str:
    return run(cwd, "hash-object", "-t", "tree", "/dev/null").decode().strip()


class TreeEntry(NamedTuple):
    mode: str
    kind: str
    oid: str


def tree_entry(cwd: str | Path, rev: str, path: str) -> TreeEntry | None:
    """The entry for ``path`` in ``rev``'s tree, or None when absent."""
    out = run(cwd, "--literal-pathspecs", "ls-tree", "-z", "--full-tree", rev, "--", path)
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        if name.decode("utf-8", "surrogateescape") == path:
            mode, kind, oid = meta.decode().split()
            return TreeEntry(mode, kind, oid)
    return None


def tree_entry_at(reader: BlobReader, commit: str, name: str) -> TreeEntry | None:
    """``tree_entry(root, commit, name)`` for a name at the top of the tree, read
    through ``reader``'s cat-file process by exact object ids instead of a new
    ``git ls-tree`` (issue #17: one process fewer on every hook run)."""
    if "/" in name or not name:
        raise ValueError(f"not a top-level name: {name!r}")
    head = reader.read_object(commit, "commit")
    if not head.startswith(b"tree ") or b"\n" not in head:
        raise GitError(f"commit {commit} has no tree line")
    tree = reader.read_object(head[5 : head.index(b"\n")].decode("ascii", "replace"), "tree")
    want = name.encode("utf-8", "surrogateescape")
    width = len(commit) // 2  # raw object ids: 20 bytes (sha1) or 32 (sha256)
    i = 0
    try:
        while i < len(tree):
            space = tree.index(b" ", i)
            nul = tree.index(b"\0", space)
            if nul + 1 + width > len(tree):
                raise ValueError("truncated")
            if tree[space + 1 : nul] == want:
                mode = _canon_mode(int(tree[i:space], 8))
                kind = {0o040000: "tree", 0o160000: "commit"}.get(mode, "blob")
                return TreeEntry(f"{mode:06o}", kind, tree[nul + 1 : nul + 1 + width].hex())
            i = nul + 1 + width
    except ValueError as exc:
        raise GitError(f"the tree of commit {commit} is malformed ({exc})") from None
    return None


def _canon_mode(mode: int) -> int:
    """The mode as ls-tree prints it (git's canon_mode): old trees may hold a
    regular file as 100664, which git reads as 100644."""
    kind = mode & 0o170000
    if kind == 0o100000:
        return 0o100755 if mode & 0o100 else 0o100644
    if kind in (0o120000, 0o040000):
        return kind
    return 0o160000


def hash_blob(data: bytes, fmt: str = "sha1") -> str:
    """The blob id git would give ``data``, computed without running filters."""
    h = hashlib.new(fmt)
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


class BlobReader:
    """Reads blobs through one long-lived ``git cat-file --batch`` process.

    One process for the whole run, asked one blob at a time: a process per
    blob cost 2 ms each (200 s for a 100,000-file change), and one batch of
    every blob up front would hold a change's checkpoints in memory at once.
    Thread-safe: the engine runs the semgrep check beside the others (issue
    #17), and two readers interleaving on one pipe would swap blobs. Fork-safe
    for the same reason: a forked child (a scan's check workers) starts its
    own process and keeps the blobs read so far.
    """

    KEEP = 4_000_000  # blobs up to this size are kept: several checks read them

    def __init__(self, cwd: str | Path) -> None:
        self._cwd = cwd
        self._cache: dict[str, bytes] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._closer: weakref.finalize[..., BlobReader] | None = None
        self._lock = threading.Lock()
        _READERS.add(self)

    def read_many(self, oids: Iterable[str]) -> dict[str, bytes]:
        with self._lock:
            return self._read_many(oids)

    def _read_many(self, oids: Iterable[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for oid in dict.fromkeys(oids):
            if NULL_OID_RE.match(oid):
                continue
            data = self._cache.get(oid)
            if data is None:
                data = self._fetch(oid)
                if len(data) <= self.KEEP:
                    self._cache[oid] = data
            out[oid] = data
        return out

    def read(self, oid: str) -> bytes:
        got = self.read_many([oid])
        if oid not in got:
            raise GitError(f"blob {oid} is missing from the object database")
        return got[oid]

    def read_object(self, oid: str, kind: str) -> bytes:
        """The object ``oid``, which must be of type ``kind`` (commit, tree...)."""
        with self._lock:
            got, data = self._fetch_typed(oid)
        if got != kind:
            raise GitError(f"object {oid} is a {got}, not a {kind}")
        return data

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    command("cat-file", "--batch"),
                    cwd=self._cwd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=git_env(),
                )
            except FileNotFoundError as exc:  # pragma: no cover - git is a prerequisite
                raise GitError("git is not installed or not on PATH") from exc
            self._closer = weakref.finalize(self, _close, self._proc)
        return self._proc

    def _forget_parent(self) -> None:
        """In a forked child: the parent's ``cat-file`` is the parent's. The
        child asking on its pipe would take the parent's answers (and the
        parent the child's); closing or waiting on it here would end or stall
        the parent's reads. It is left untouched, never finalized in the child."""
        if self._proc is not None:
            _PARENTS.append(self._proc)  # its file objects never flush or close here
        if self._closer is not None:
            self._closer.detach()
        self._proc, self._closer = None, None
        self._lock = threading.Lock()  # a lock some parent thread held stays held

    def _fetch(self, oid: str) -> bytes:
        return self._fetch_typed(oid)[1]

    def _fetch_typed(self, oid: str) -> tuple[str, bytes]:
        if not _OID_RE.match(oid):  # cat-file would take any revision expression
            raise GitError(f"not an object id: {oid!r}")
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(oid.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().decode("utf-8", "replace").split()
            if len(header) == 2 and header[1] == "missing":
                raise GitError(f"object {oid} is missing (shallow or partial clone?)")
            if len(header) != 3:
                raise GitError(f"unexpected cat-file header {' '.join(header)!r} for {oid}")
            size = int(header[2])
            data = proc.stdout.read(size + 1)  # content is followed by a newline
        except (OSError, ValueError) as exc:
            raise GitError(f"`git cat-file --batch` failed while reading {oid}: {exc}") from exc
        if len(data) != size + 1:
            raise GitError(f"`git cat-file --batch` stopped in the middle of {oid}")
        return header[1], data[:size]


_OID_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_READERS: weakref.WeakSet[BlobReader] = weakref.WeakSet()
_PARENTS: list[subprocess.Popen[bytes]] = []  # in a forked child: the parent's readers


def _after_fork_in_child() -> None:
    for reader in list(_READERS):
        reader._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _close(proc: subprocess.Popen[bytes]) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


class RawEntry(NamedTuple):
    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str
    status: str  # one letter: A C D M R T U X
    score: int | None
    old_path: str
    new_path: str


class PatchSection(NamedTuple):
    added: tuple[int, ...]
    removed: tuple[int, ...]
    binary: bool


def _decode_path(raw: bytes) -> str:
    # surrogateescape keeps non-UTF-8 path bytes round-trippable.
    return raw.decode("utf-8", "surrogateescape")


def diff(cwd: str | Path, *revs: str, cached: bool = False) -> list[tuple[RawEntry, PatchSection]]:
    """Raw entries plus added/removed line numbers, from ONE git diff call.

    ``--patch-with-raw -z`` prints NUL-terminated raw records, an empty record,
    then the unified patch, whose per-file sections follow the raw order.
    """
    args = [
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--no-relative",
        "--ignore-submodules=none",
        "--full-index",
        "--no-abbrev",
        "--find-renames",
        "--find-copies",
        "--patch-with-raw",
        "-U0",
        "-z",
    ]
    if cached:
        args.append("--cached")
    out = run(cwd, *args, *revs, "--")
    raws, patch = _parse_raw(out)
    sections = _parse_patch(patch)
    # A type change (file <-> symlink/gitlink) prints as two patch sections,
    # a deletion then a creation; fold them back into one.
    paired: list[tuple[RawEntry, PatchSection]] = []
    i = 0
    for raw in raws:
        want = 2 if raw.status == "T" else 1
        if i + want > len(sections):
            break
        if want == 2:
            old, new = sections[i], sections[i + 1]
            paired.append((raw, PatchSection(new.added, old.removed, old.binary or new.binary)))
        else:
            paired.append((raw, sections[i]))
        i += want
    if len(paired) != len(raws) or i != len(sections):
        raise GitError(
            f"diff parse mismatch: {len(raws)} raw entries but {len(sections)} patch sections"
        )
    return paired


def _parse_raw(out: bytes) -> tuple[list[RawEntry], bytes]:
    entries: list[RawEntry] = []
    pos = 0
    while pos < len(out):
        end = out.index(b"\0", pos)
        token = out[pos:end]
        pos = end + 1
        if not token:  # the empty record that separates raw from patch
            break
        if not token.startswith(b":"):
            raise GitError(f"unexpected raw diff record {token[:80]!r}")
        old_mode, new_mode, old_oid, new_oid, status = token[1:].decode().split(" ")
        letter, score = status[0], (int(status[1:]) if len(status) > 1 else None)
        end = out.index(b"\0", pos)
        first = _decode_path(out[pos:end])
        pos = end + 1
        second = first
        if letter in "RC":
            end = out.index(b"\0", pos)
            second = _decode_path(out[pos:end])
            pos = end + 1
        entries.append(RawEntry(old_mode, new_mode, old_oid, new_oid, letter, score, first, second))
    return entries, out[pos:]


_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _parse_patch(patch: bytes) -> list[PatchSection]:
    sections: list[PatchSection] = []
    added: list[int] = []
    removed: list[int] = []
    binary = False
    started = False
    for line in patch.split(b"\n"):
        if line.startswith(b"diff --git "):
            if started:
                sections.append(PatchSection(tuple(added), tuple(removed), binary))
            started, added, removed, binary = True, [], [], False
            continue
        if line.startswith(b"@@"):
            m = _HUNK_RE.match(line)
            if m is None:
                raise GitError(f"unparseable hunk header {line[:80]!r}")
            o_start, o_len = int(m[1]), int(m[2]) if m[2] is not None else 1
            n_start, n_len = int(m[3]), int(m[4]) if m[4] is not None else 1
            removed.extend(range(o_start, o_start + o_len))
            added.extend(range(n_start, n_start + n_len))
        elif line.startswith(b"Binary files ") and line.endswith(b" differ"):
            binary = True
    if started:
        sections.append(PatchSection(tuple(added), tuple(removed), binary))
    return sections


def untracked(cwd: str | Path) -> list[str]:
    out = run(cwd, "ls-files", "-z", "--others", "--exclude-standard")
    return [_decode_path(p) for p in out.split(b"\0") if p]


def rev_list(cwd: str | Path, *args: str) -> list[str]:
    """Commit ids from ``git rev-list ARGS``; anything else in the output is an error."""
    out = run(cwd, "rev-list", *args)
    ids = out.decode("ascii", "replace").split()
    bad = next((i for i in ids if not _OID_RE.match(i)), None)
    if bad is not None:  # issue #14: a line we do not understand blocks
        raise GitError(f"`git rev-list {' '.join(args)}` printed {bad[:80]!r}, not a commit id")
    return ids


def _utf8(out: bytes, what: str) -> str:
    """Strict UTF-8: a wrong decode could change who wrote a commit (issue #14)."""
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitError(
            f"{what} printed bytes that are not UTF-8 (byte {exc.start}: "
            f"{out[max(exc.start - 20, 0) : exc.end + 20]!r}); identities cannot be read"
        ) from exc


_IDENTITY_RE = re.compile(
    r"([0-9a-f]{40}|[0-9a-f]{64})\0([^\0]*)\0([^\0]*)\0([^\0]*)\0([^\0]*)\0\0"
)


def commit_identities(cwd: str | Path, rev_range: str) -> list[tuple[str, str, str, str, str]]:
    """(sha, author name, author email, committer name, committer email) per commit.

    Parsed strictly: UTF-8 (pinned by ``i18n.logOutputEncoding``) and exactly the
    records asked for, or GitError naming the range.
    """
    out = run(
        cwd,
        "log",
        "-z",
        "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00",
        "--end-of-options",
        rev_range,
        "--",
    )
    text = _utf8(out, f"`git log {rev_range}`")
    rows = []
    pos = 0
    while pos < len(text):
        m = _IDENTITY_RE.match(text, pos)
        if m is None:
            raise GitError(
                f"`git log {rev_range}` printed an identity record traingate cannot parse: "
                f"{text[pos : pos + 80]!r}"
            )
        rows.append((m[1], m[2], m[3], m[4], m[5]))
        pos = m.end()
    return rows


class CoAuthor(NamedTuple):
    commit: str
    name: str
    email: str  # "" when the trailer names no <email>


# Ported from git's trailer.c (find_separator, trailer_info_get, unfold_value):
# git finds the trailer block, we split its lines exactly as git does.
_C_SPACE = " \t\n\v\f\r"
_TRAILER_RECORD_RE = re.compile(r"([0-9a-f]{40}|[0-9a-f]{64})\0([^\0]*)\0\0")
_CO_AUTHOR_KEY = "co-authored-by"


def coauthors(cwd: str | Path, rev_range: str) -> list[CoAuthor]:
    """Every ``Co-authored-by:`` trailer of the commits in ``rev_range``, in log order.

    One ``git log`` call: git's own trailer parser finds each message's trailer
    block (``%(trailers)`` with no options prints it verbatim), and the block's
    lines are split here the way git's parser splits them: a token of ASCII
    letters, digits and ``-``, optional blanks, ``:``; indented lines continue the
    previous trailer; the key matches case-insensitively.

    Why not ``%(trailers:key=Co-authored-by,valueonly)`` (issue #14): git renames
    trailer tokens through ``trailer.<name>.key`` config before it filters, and an
    entry in any config file (even ``trailer.co-authored-by-x.key``, which matches
    by prefix) is consulted before a ``-c`` pin, so one config line would hide
    every co-author. The verbatim block depends only on ``trailer.separators`` and
    ``core.commentChar``, both pinned; configured trailer names can only make git
    recognize a block it would not, which adds co-authors and never removes one.
    """
    out = run(
        cwd, "log", "-z", "--format=%H%x00%(trailers)%x00", "--end-of-options", rev_range, "--"
    )
    text = _utf8(out, f"`git log {rev_range}`")
    found: list[CoAuthor] = []
    pos = 0
    while pos < len(text):
        m = _TRAILER_RECORD_RE.match(text, pos)
        if m is None:
            raise GitError(
                f"`git log {rev_range}` printed a trailer record traingate cannot parse: "
                f"{text[pos : pos + 80]!r}"
            )
        pos = m.end()
        for key, value in _trailers(m[2]):
            if key.lower() == _CO_AUTHOR_KEY:
                name, email = _name_email(value)
                found.append(CoAuthor(m[1], name, email))
    return found


def _find_separator(line: str) -> int:
    """git's find_separator with separators ":": the index of ":" or -1."""
    blank = False
    for i, c in enumerate(line):
        if c == ":":
            return i
        if not blank and ((c.isascii() and c.isalnum()) or c == "-"):
            continue
        if i and c in " \t":
            blank = True
            continue
        break
    return -1


def _trailers(block: str) -> list[tuple[str, str]]:
    """(token, unfolded value) for each trailer line of a verbatim trailer block."""
    entries: list[str] = []
    last_is_trailer = False
    # Lines end at "\n" only, terminator kept, as git's strbuf_split_buf does.
    for line in re.findall(r"[^\n]*\n|[^\n]+\Z", block):
        if last_is_trailer and line[0] in _C_SPACE:
            entries[-1] += line
            continue
        entries.append(line)
        last_is_trailer = _find_separator(line) >= 1
    out = []
    for entry in entries:
        sep = _find_separator(entry)
        if sep < 1:
            continue  # a non-trailer line inside the block
        value = re.sub(f"\n[{_C_SPACE}]*", " ", entry[sep + 1 :].strip(_C_SPACE))
        out.append((entry[:sep].strip(_C_SPACE), value.strip(_C_SPACE)))
    return out


_NAME_EMAIL_RE = re.compile(r"(.*?)[ \t]*<([^<>]*)>")


def _name_email(value: str) -> tuple[str, str]:
    """``Name <email>`` as git writes identities; a bare address is an email."""
    m = _NAME_EMAIL_RE.fullmatch(value)
    if m is not None:
        return m[1], m[2].strip()
    if re.fullmatch(r"[^\s<>@]+@[^\s<>@]+", value):
        return "", value
    return value, ""


def patch_id(cwd: str | Path, a: str, b: str) -> str | None:
    """``git patch-id --stable`` of a..b: equal for the same change on the same base."""
    patch = run(
        cwd, "diff", "--no-ext-diff", "--no-textconv", "--no-color", "--full-index", a, b, "--"
    )
    if not patch.strip():
        return None
    out = run(cwd, "patch-id", "--stable", stdin=patch).decode().split()
    return out[0] if out else None


def is_ancestor(cwd: str | Path, a: str, b: str) -> bool:
    proc = subprocess.run(
        command("merge-base", "--is-ancestor", a, b),
        cwd=cwd,
        capture_output=True,
        env=git_env(),
        check=False,
    )
    return proc.returncode == 0


def notes(cwd: str | Path, ref: str, commit: str) -> bytes | None:
    proc = subprocess.run(
        command("notes", f"--ref={ref}", "show", commit),
        cwd=cwd,
        capture_output=True,
        env=git_env(),
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None
