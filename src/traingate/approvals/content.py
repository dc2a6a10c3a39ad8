"""Does an approval of one version of a change cover the version about to land?

Issue #14 class 1: staleness used ``git patch-id --stable``, which ignores
whitespace, and in Python whitespace is meaning (``scheduler.step()`` indented
into an ``if``). The rule now compares git object ids only:

An approval of the change ``reviewed_mb..reviewed`` covers the change
``mb..head`` when replaying the reviewed change onto ``mb`` (a three-way merge
with ``reviewed_mb`` as the merge base, which is what a clean rebase, an update
merge or a merge-queue candidate computes) yields, byte for byte, ``head``'s
tree. Whatever differs is the *residual*: the paths where the version about to
land is not what was approved. The judge lets the approval count only for the
requirements whose paths the residual does not touch.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traingate import git
from traingate.errors import GitError

# The replay writes two throwaway commit objects (git 2.39's merge-tree has no
# --merge-base; two commits whose only common ancestor is reviewed_mb make it
# the merge base). They are unreachable and gc'd like any dangling object.
_IDENT = ("-c", "user.name=traingate", "-c", "user.email=traingate@invalid")
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class Coverage:
    """``residual`` is empty when the approval covers every path of the change."""

    residual: tuple[str, ...]
    why: str  # what differs, for reports; "" when covered

    @property
    def covered(self) -> bool:
        return not self.residual


COVERED = Coverage((), "")


def tree_of(root: Path, commit: str) -> str:
    return (
        git.run(root, "rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")
        .decode()
        .strip()
    )


def replay_tree(root: Path, reviewed_mb: str, reviewed: str, onto: str) -> tuple[str, bool]:
    """(tree, clean): the reviewed change ``reviewed_mb..reviewed`` applied to ``onto``."""
    if onto == reviewed_mb:
        return tree_of(root, reviewed), True
    ours = _commit(root, tree_of(root, onto), reviewed_mb)
    theirs = _commit(root, tree_of(root, reviewed), reviewed_mb)
    # -z --name-only --no-messages: "<tree>\0" then one "<path>\0" per conflict.
    # merge-tree honours merge attributes (merge=union turns a conflict into a
    # "clean" concatenation), and merge-ort reads them from the merged trees'
    # own .gitattributes, i.e. from the change. Run it as in a bare repository
    # (2.39 then reads attributes only from config, here none), from an empty
    # directory, so the replay is git's plain three-way merge.
    with tempfile.TemporaryDirectory(prefix="traingate-replay-") as empty:
        out = _merge_tree(root, empty, ours, theirs)
    tree, *conflicts = out.split(b"\0")
    oid = tree.decode("ascii", "replace").strip()
    if not _OID.fullmatch(oid):
        raise GitError(f"could not replay {reviewed[:12]} onto {onto[:12]}: {out[:200]!r}")
    return oid, not any(conflicts)


def _merge_tree(root: Path, empty: str, ours: str, theirs: str) -> bytes:
    gitdir = git.run(root, "rev-parse", "--absolute-git-dir").decode().strip()
    return git.run(
        empty,
        f"--git-dir={gitdir}",
        "-c",
        "core.bare=true",
        "-c",
        "core.attributesFile=/dev/null",
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
        ours,
        theirs,
        check=False,
    )


def _commit(root: Path, tree: str, parent: str) -> str:
    return (
        git.run(root, *_IDENT, "commit-tree", tree, "-p", parent, "-m", "traingate replay")
        .decode()
        .strip()
    )


def coverage(root: Path, reviewed_mb: str, reviewed: str, mb: str, head: str) -> Coverage:
    """How far an approval of ``reviewed_mb..reviewed`` covers ``mb..head``."""
    if reviewed == head and reviewed_mb == mb:
        return COVERED
    # The same head against another merge base (a retargeted change) is judged
    # by the replay too: the new base may bring commits nobody reviewed (#14).
    tree, clean = replay_tree(root, reviewed_mb, reviewed, mb)
    head_tree = tree_of(root, head)
    if tree == head_tree:
        return COVERED
    residual = tuple(_changed(root, tree, head_tree))
    how = "it conflicts with the new base" if not clean else "the change has changed since"
    shown = ", ".join(residual[:5]) + (
        f" and {len(residual) - 5} more" if len(residual) > 5 else ""
    )
    return Coverage(residual, f"stale: approved {reviewed[:12]}; {how}, in {shown}")


def _changed(root: Path, a: str, b: str) -> list[str]:
    out = git.run(
        root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", "--no-ext-diff", a, b, "--"
    )
    return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})
