"""Every name a changed path is reachable by through symlinks (issue #14, class 9).

With ``train/plugins -> ../contrib/plugins`` in the tree, an edit to
``contrib/plugins/hook.py`` changes what ``train/plugins/hook.py`` runs: a
path is sensitive under every name it has in the base or the head tree.

Links are read from git, never from the disk: one ``git ls-tree -r`` per
tree (the diff's old side and, in range mode, the trusted base when it
differs), filtered on mode 120000; the head side is the old side updated by
the change's own entries, so the index (``--staged``) and the working tree
need no listing of their own. Targets are resolved like the kernel does,
component by component: absolute targets and targets that leave the
repository name nothing in it, and a chain of links stops after MAX_HOPS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from traingate import git, paths
from traingate.change import MODE_SYMLINK, Change, ChangedFile, Status
from traingate.errors import GitError

# Links followed while resolving one target, as Linux's ELOOP limit.
MAX_HOPS = 40
# Directory links stacked in one alias (train/a/b/... through a, then b).
MAX_DEPTH = 8
# Aliases of one path past which we refuse to judge: a few links to the
# repository root multiply names; stopping silently could drop the one
# sensitive name, so the gate blocks instead (fail closed).
MAX_NAMES = 1000

Reader = Callable[[str], bytes | None]


def tree_links(root: Path, rev: str, read: Reader) -> dict[str, str]:
    """The symlinks of ``rev``'s tree: path -> target text."""
    out = git.run(root, "ls-tree", "-r", "-z", "--full-tree", rev)
    found: dict[str, str] = {}
    # split + startswith: ~15 ms on 100,000 entries, a regex over them ~70 ms.
    for record in out.split(b"\0"):
        if record.startswith(b"120000 "):
            meta, _, name = record.partition(b"\t")
            found[_decode(name)] = meta.split()[2].decode()
    return {p: _decode(read(oid) or b"") for p, oid in found.items()}


def updated_links(
    old: Mapping[str, str], files: Iterable[ChangedFile], read: Reader
) -> dict[str, str]:
    """The new side's links: the old side's, with the change's entries applied."""
    links = dict(old)
    for f in files:
        if f.status in (Status.DELETED, Status.RENAMED) and f.old_path is not None:
            links.pop(f.old_path, None)
        if f.new_path is not None:
            if f.new_mode == MODE_SYMLINK and f.new_oid is not None:
                links[f.new_path] = _decode(read(f.new_oid) or b"")
            else:
                links.pop(f.new_path, None)
    return links


def resolve(links: Mapping[str, str], path: str, *, fold: bool = False) -> str | None:
    """Where ``path`` leads once every link in it is followed ("" is the root).

    None when a target is absolute or climbs out of the repository (not a
    repository path) or when links loop past MAX_HOPS.
    """
    return _resolve(_folded(links) if fold else links, path, fold)


def _resolve(table: Mapping[str, str], path: str, fold: bool) -> str | None:
    """``resolve`` with the links already keyed as ``_key`` spells them."""
    pending = path.split("/")
    done: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        done.append(part)
        here = "/".join(done)
        target = table.get(_key(here, fold))
        if target is None:
            continue
        hops += 1
        if hops > MAX_HOPS or not target or target.startswith("/"):
            return None
        done.pop()
        pending = target.split("/") + pending
    return "/".join(done)


class Tree:
    """One tree's links, indexed by the real place each one leads to."""

    def __init__(self, links: Mapping[str, str], *, fold: bool = False) -> None:
        self.fold = fold
        self.by_target: dict[str, list[str]] = {}
        table = _folded(links) if fold else links
        for link in sorted(links):
            real = _resolve(table, link, fold)
            if real is not None:
                self.by_target.setdefault(_key(real, fold), []).append(link)

    def names(self, path: str) -> set[str]:
        """Every other name of ``path``: a link to it or to a directory above it,
        then links to those names, up to MAX_DEPTH stacked links, each link at
        most once per name (a cycle adds nothing but longer spellings)."""
        if not self.by_target:
            return set()
        found: set[str] = set()
        frontier: list[tuple[str, frozenset[str]]] = [(path, frozenset())]
        for depth in range(1, MAX_DEPTH + 2):
            grown: list[tuple[str, frozenset[str]]] = []
            for name, used in frontier:
                for prefix, rest in _prefixes(name):
                    for link in self.by_target.get(_key(prefix, self.fold), ()):
                        alias = link + rest
                        if link in used or alias == path or alias in found:
                            continue
                        if depth > MAX_DEPTH or len(found) >= MAX_NAMES:
                            # A name past the bounds could be the sensitive
                            # one: refuse to judge rather than drop it.
                            raise GitError(
                                f"{path} has too many names through symlinks (over "
                                f"{MAX_NAMES}, or over {MAX_DEPTH} stacked directory links); "
                                "the gate cannot judge which of them are sensitive",
                                help="replace links to the repository root, its parents or "
                                "other linked directories with real files",
                            )
                        found.add(alias)
                        grown.append((alias, used | {link}))
            if not grown:
                break
            frontier = grown
        return found


def changed_aliases(change: Change, *, fold: bool = False) -> dict[str, tuple[str, ...]]:
    """For each path the change touches, its other names in the base or head tree.

    Cost (issue #14): one ``git ls-tree -r`` per listed tree plus one blob read
    per symlink (~50 ms for a tree of 100,000 files), then a dictionary lookup
    per directory level of each changed path. A path without aliases is absent.
    """
    touched = [p for f in change.files for p in f.paths]
    if not touched:
        return {}
    trees = link_sets(change)
    return aliases_in([Tree(links, fold=fold) for links in trees], touched)


def at_revision(
    root: Path, rev: str, touched: Iterable[str], *, fold: bool = False
) -> dict[str, tuple[str, ...]]:
    """Other names of ``touched`` through the symlinks of one commit's tree
    (``policy explain``; per-commit callers such as an audit of history)."""
    links = tree_links(root, rev, git.BlobReader(root).read)
    return aliases_in([Tree(links, fold=fold)], touched)


def link_sets(change: Change) -> list[dict[str, str]]:
    """The links of the trees a change can be reached through: the diff's old
    side, the trusted base when it is another commit, and the new side."""
    old_rev = change.merge_base or change.base
    old = _commit_links(change, old_rev) if old_rev else {}
    out = [old, updated_links(old, change.files, change.read)]
    if change.base is not None and change.base != old_rev:
        out.append(_commit_links(change, change.base))
    # Most changes touch no link: one index per distinct set of links.
    distinct: list[dict[str, str]] = []
    for links in out:
        if links and links not in distinct:
            distinct.append(links)
    return distinct


def _commit_links(change: Change, rev: str) -> dict[str, str]:
    """``tree_links`` of a commit, kept in the signed cache when there is one
    (issue #17: the listing is a git process and ~10 ms on every hook run). A
    commit id fixes its tree and every link's target blob; an entry that does
    not verify is a miss (traingate.cache.Signed), never a dropped link."""
    if change.cache_dir is None or not _COMMIT_ID.match(rev):
        return tree_links(change.root, rev, change.read)
    from traingate import cache

    store = cache.Signed(change.cache_dir, "links-v1")
    key = cache.key("links-v1", cache.installation(), rev)
    got = store.get(key)
    if type(got) is dict and all(type(k) is str and type(v) is str for k, v in got.items()):
        return got
    links = tree_links(change.root, rev, change.read)
    store.put(key, links)
    return links


_COMMIT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def aliases_in(trees: Sequence[Tree], touched: Iterable[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for p in dict.fromkeys(touched):
        names: set[str] = set()
        for tree in trees:
            names |= tree.names(p)
        if names:
            out[p] = tuple(sorted(names))
    return out


def _prefixes(name: str) -> Iterable[tuple[str, str]]:
    """("a/b/c", ""), ("a/b", "/c"), ("a", "/b/c"), ("", "/a/b/c")."""
    cut = len(name)
    while cut > 0:
        yield name[:cut], name[cut:]
        cut = name.rfind("/", 0, cut)
    yield "", "/" + name


def _key(path: str, fold: bool) -> str:
    return paths.fold_path(path) if fold else path


def _folded(links: Mapping[str, str]) -> dict[str, str]:
    return {paths.fold_path(k): v for k, v in links.items()}


def _decode(raw: bytes) -> str:
    # As traingate.git spells paths: non-UTF-8 bytes survive the round trip.
    return raw.decode("utf-8", "surrogateescape")
