"""Repository oddities a reviewer's diff view hides.

Symlinks and submodules carry content from outside the diff; a mode change
makes a data file runnable; ``.gitattributes`` can mark code as binary or
attach a filter so that review tools (and naive gates) never show it;
``.gitmodules`` and ``.lfsconfig`` move where submodule code and LFS objects
(checkpoints) are fetched from without any gitlink changing (session 26).
"""

from __future__ import annotations

import posixpath
import re

from traingate import paths
from traingate.catalog import Rule, declare
from traingate.change import MODE_EXEC, ChangedFile, Status, is_binary
from traingate.checks.base import Context
from traingate.findings import Finding
from traingate.policy.base import CheckSettings, Severity

ID = "repository"
DESCRIPTION = "Symlinks, submodules, mode changes, .gitattributes tricks and odd paths."

# `checks.<id>` in the policy; traingate.policy.model assembles the policy from these.
Settings = CheckSettings

RULES = declare(
    ID,
    [
        Rule(
            "repo-symlink-outside",
            Severity.ERROR,
            "an added or changed symlink points outside the repository (absolute, or .. past the root)",
            category="repository",
        ),
        Rule(
            "repo-symlink-into-sensitive",
            Severity.ERROR,
            "a symlink's target is inside a sensitive path of the policy",
            category="repository",
        ),
        Rule(
            "repo-file-replaced-by-symlink",
            Severity.ERROR,
            "a regular file became a symlink",
            category="repository",
        ),
        Rule("repo-symlink", Severity.WARNING, "any other symlink is added", category="repository"),
        Rule(
            "repo-submodule",
            Severity.ERROR,
            "a submodule (gitlink) is added or re-pointed",
            category="repository",
        ),
        Rule(
            "repo-made-executable",
            Severity.WARNING,
            "a file's mode changes to executable",
            category="repository",
        ),
        Rule(
            "repo-gitattributes",
            Severity.ERROR,
            "an added .gitattributes line sets filter, diff, merge, binary, text, eol, working-tree-encoding, export-ignore, linguist-generated or linguist-vendored",
            category="repository",
        ),
        Rule(
            "repo-fetch-config",
            Severity.ERROR,
            "an added .gitmodules line sets a submodule's url, branch or update, or an added .lfsconfig line sets where or what git-lfs fetches (url, lfsurl, access, fetchinclude/exclude...)",
            category="repository",
        ),
        Rule(
            "repo-odd-path",
            Severity.WARNING,
            "a path contains control characters (newlines), a leading dash, ./.. segments or surrounding spaces",
            category="repository",
        ),
    ],
)

# Attributes that change what git (and review UIs) show or run for a path.
_RISKY_ATTR = re.compile(
    r"(?:^|\s)(-?(?:filter|diff|merge|binary|text|eol|working-tree-encoding|export-ignore|linguist-generated|linguist-vendored)\b[^\s]*)"
)
_ODD_PATH = re.compile(r"[\x00-\x1f\x7f]|^-|(?:^|/)\.\.?(?:/|$)")


def run(ctx: Context) -> list[Finding]:
    sensitive = [p for sp in ctx.policy.policy.sensitive_paths for p in sp.paths]
    fold = ctx.policy.policy.case_insensitive_paths
    out: list[Finding] = []
    for f in ctx.files:
        out.extend(_symlink(ctx, f, sensitive, fold))
        out.extend(_gitlink(f))
        out.extend(_mode(f))
        out.extend(_odd_path(f))
        name = posixpath.basename(f.path)
        if name == ".gitattributes" and f.new_oid:
            out.extend(_gitattributes(ctx, f))
        elif name in _FETCH_KEYS and f.new_oid:
            out.extend(_fetch_config(ctx, f, name))
    return out


def _finding(f: ChangedFile, rule: str, msg: str, help: str, line: int | None = None) -> Finding:
    return RULES.finding(
        rule, path=f.path, line=line, column=1 if line else None, message=msg, help=help
    )


def _symlink(ctx: Context, f: ChangedFile, sensitive: list[str], fold: bool) -> list[Finding]:
    if not f.is_symlink or f.status is Status.DELETED:
        return []
    target = (ctx.change.read(f.new_oid) or b"").decode("utf-8", "surrogateescape")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(f.path), target))
    if target.startswith("/") or joined.startswith(".."):
        return [
            _finding(
                f,
                "repo-symlink-outside",
                f"symlink points outside the repository: {target!r}",
                "commit the file itself instead of a link to outside content",
            )
        ]
    if paths.matches(sensitive, joined, fold=fold) or paths.matches(
        sensitive, joined + "/", fold=fold
    ):
        return [
            _finding(
                f,
                "repo-symlink-into-sensitive",
                f"symlink points into a sensitive path: {target!r} -> {joined}",
                "a link lets edits through one path change a protected one; commit a copy instead",
            )
        ]
    if f.status is Status.TYPE_CHANGED or f.old_mode not in (None, f.new_mode):
        return [
            _finding(
                f,
                "repo-file-replaced-by-symlink",
                f"a regular file was replaced by a symlink to {target!r}",
                "keep the file; a link hides its content from the diff",
            )
        ]
    return [
        _finding(
            f,
            "repo-symlink",
            f"symlink added: -> {target!r}",
            "prefer real files in training repositories",
        )
    ]


def _gitlink(f: ChangedFile) -> list[Finding]:
    if not f.is_gitlink or f.status is Status.DELETED:
        return []
    verb = "added" if f.old_oid is None else "re-pointed"
    return [
        _finding(
            f,
            "repo-submodule",
            f"submodule {verb} at {f.path} ({(f.new_oid or '')[:12]}): its code is not in this diff",
            "review the submodule's commits, or vendor the code so the gate can read it",
        )
    ]


def _mode(f: ChangedFile) -> list[Finding]:
    if f.new_mode == MODE_EXEC and f.old_mode not in (None, MODE_EXEC):
        return [
            _finding(
                f,
                "repo-made-executable",
                f"file mode changed {f.old_mode} -> {f.new_mode} (now executable)",
                "training code rarely needs the executable bit; say why in the change",
            )
        ]
    return []


def _odd_path(f: ChangedFile) -> list[Finding]:
    for p in f.paths:
        if _ODD_PATH.search(p) or p != p.strip():
            return [
                _finding(
                    f,
                    "repo-odd-path",
                    f"path contains control characters, a leading dash or dot segments: {p!r}",
                    "rename the file to a plain path",
                )
            ]
    return []


def _gitattributes(ctx: Context, f: ChangedFile) -> list[Finding]:
    # Read as git reads it (issue #16): bytes, lines ended by \n only (a form
    # feed in an old line must not shift the added ones). A NUL ends its line
    # (newer git stops reading there, older git only cuts that line). Git diffs
    # a file with a NUL as binary and gives no added lines: then every line
    # counts, or a "# \0" comment before it hid a filter line.
    data = ctx.change.read(f.new_oid) if (f.new_mode or "").startswith("100") else None
    if not data:
        return []
    every = is_binary(data)
    added = set(f.added_lines)
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        line = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if not (every or n in added) or line.lstrip().startswith("#"):
            continue
        m = _RISKY_ATTR.search(line)
        if m:
            out.append(
                _finding(
                    f,
                    "repo-gitattributes",
                    f".gitattributes sets {m.group(1)!r}: it changes how git and review tools show or process files",
                    "attributes can hide code from diffs or run filters; have security review it",
                    line=n,
                )
            )
    return out


# Session 26 red team: git config files git and git-lfs read from the work tree.
# A submodule's url (with `branch`, `git submodule update --remote` checks out
# that host's tip) moves without any gitlink changing; git-lfs reads only where
# from .lfsconfig (its safe list: lfs.url, lfs.pushurl, lfs.<url>.access,
# remote.<name>.lfsurl, fetchinclude/fetchexclude, gitprotocol,
# skipdownloaderrors, ...); tuning keys (concurrenttransfers) it ignores there.
_FETCH_KEYS: dict[str, frozenset[str]] = {
    ".gitmodules": frozenset({"url", "branch", "update"}),
    ".lfsconfig": frozenset(
        {"url", "pushurl", "lfsurl", "lfspushurl", "access", "gitprotocol"}
        | {"fetchinclude", "fetchexclude", "skipdownloaderrors"}
    ),
}
# `key = value`, `key=value` or a bare boolean `key`, after an optional
# `[section]` on the same line (git allows both on one line).
_GIT_CONFIG_LINE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?([A-Za-z][\w-]*)\s*(?:=|$)")


def _fetch_config(ctx: Context, f: ChangedFile, name: str) -> list[Finding]:
    """Added lines of .gitmodules / .lfsconfig that set where code or weights
    come from. Read as git reads them: lines ended by \\n, a NUL ending its
    line and (the file diffed as binary) every line counting; a value continued
    with a trailing backslash belongs to its key's line."""
    data = ctx.change.read(f.new_oid) if (f.new_mode or "").startswith("100") else None
    if not data:
        return []
    keys, every, added = _FETCH_KEYS[name], is_binary(data), set(f.added_lines)
    key, reported, out = "", False, []
    for n, raw in enumerate(data.split(b"\n"), 1):
        line = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if not key:  # not a continuation: a new setting, a header or a comment
            m = _GIT_CONFIG_LINE.match(line)
            key = m.group(1).lower() if m and not line.lstrip().startswith(("#", ";")) else ""
            reported = False
        if key and not reported and key in keys and (every or n in added):
            reported = True  # one finding per setting, at its first added line
            out.append(
                _finding(
                    f,
                    "repo-fetch-config",
                    f"{name} sets {key!r}: git or git-lfs fetches submodule code or "
                    "large files (checkpoints) from where it says, outside this diff",
                    "keep submodule and LFS endpoints on the project's own host; have "
                    "security review the change",
                    line=n,
                )
            )
        key = key if line.rstrip().endswith("\\") else ""
    return out
