"""Module lookups skip names no module starts with (issue #17).

``Graph._find_module_of`` tried, for every root of every import of every
file, each prefix of ``root + dotted`` as a module name: ~1.2 million
``_module`` lookups in a scan of the eight-library corpus, nearly all of
names no file has (``transformers.models.bert.torch.nn``). Now the names
past the longest run that is a prefix of some module name are skipped: a
module name is never among them, so the lookups that can hit are made, in
the same order, with the same result, the same files loaded and the same
unparseable modules recorded. Checked here against the old loop on a tree
with nested packages, names that prefix others, ``src/`` roots, relative
imports past the top, a directory with a dot in its name, a module whose only
file Python refuses (``unreadable``) and one with a parseable twin.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from traingate.checks.reach import graph
from traingate.checks.reach.graph import Graph, module_name

PATHS = [
    "a/__init__.py",
    "a/b.py",
    "a/b/__init__.py",  # a package beside a module of the same name
    "a/b/c.py",
    "a/bc.py",  # "a.bc" starts with "a.b" as text, not as a module name
    "a/torch/__init__.py",  # shadows the top-level torch for a/ files only
    "a/torch/nn.py",
    "broken/__init__.py",  # Python refuses it: unreadable when asked for
    "broken/ok.py",
    "twin.py",  # refused, with a parseable twin package
    "twin/__init__.py",
    "src/pkg/__init__.py",
    "src/pkg/mod.py",
    "scripts/run.py",
    "scripts/helpers.py",
    "odd.dir/x.py",  # a dot inside a directory name
    "os.py",  # a standard-library name at the root
    "deep/er/est/leaf.py",
]
REFUSED = {"broken/__init__.py", "twin.py"}
IMPORTERS = [
    "a/b/c.py",
    "a/b/__init__.py",
    "a/bc.py",
    "scripts/run.py",
    "src/pkg/mod.py",
    "odd.dir/x.py",
    "deep/er/est/leaf.py",
    "top.py",
]
DOTTED = [
    "",
    "a",
    "a.b",
    "a.b.c",
    "a.b.c.f",
    "a.bc",
    "a.bc.g",
    "b",
    "b.c",
    "c",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "broken",
    "broken.ok",
    "broken.ok.h",
    "twin",
    "twin.x",
    "pkg",
    "pkg.mod",
    "pkg.mod.k",
    "helpers",
    "helpers.z",
    "os",
    "os.path",
    "odd",
    "odd.dir",
    "x",
    "er.est.leaf",
    "est.leaf",
    "leaf",
    "nothing.at.all",
]


def _old_find(g: Graph, path: str, level: int, dotted: str) -> Any:
    """The loop before issue #17's pruning (base ecaf245), as the reference."""
    parts = [p for p in dotted.split(".") if p]
    if level > 0:
        pkg = module_name(path).split(".")
        if not path.endswith("__init__.py"):
            pkg = pkg[:-1]
        if level - 1 > len(pkg):
            return None
        roots = [pkg[: len(pkg) - (level - 1)]]
    else:
        if not parts:
            return None
        roots = g._roots(path, parts[0])
    for root in roots:
        full = [*root, *parts]
        for n in range(len(full), len(root), -1):
            hit = g._module(".".join(full[:n]))
            if hit is not None:
                return hit, tuple(full[n:])
    return None


def _graph(paths: list[str]) -> tuple[Graph, list[str]]:
    files: dict[str, dict[str, Any]] = {
        p: {"defs": {}, "classes": {}, "aliases": {}, "calls": []} for p in paths
    }
    loaded: list[str] = []

    class Files(dict[str, dict[str, Any]]):
        def __contains__(self, path: object) -> bool:
            loaded.append(str(path))  # the order files are asked for (lazily parsed)
            return super().__contains__(path) and path not in REFUSED

    return Graph(Files(files), paths=sorted(paths)), loaded


def test_pruned_lookup_finds_and_loads_exactly_what_the_old_loop_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases = list(itertools.product(IMPORTERS, range(4), DOTTED))
    old, old_loaded = _graph(PATHS)
    new, new_loaded = _graph(PATHS)
    for path, level, dotted in cases:
        want = _old_find(old, path, level, dotted)
        assert new._find_module_of(path, level, dotted) == want, (path, level, dotted)
    assert new.unreadable == old.unreadable
    assert set(new.unreadable) == {"broken/__init__.py"}
    assert new_loaded == old_loaded  # the same files asked for, in the same order
    # What the pruning is for: far fewer names asked.
    asked: list[str] = []
    module = Graph._module

    def spy(self: Graph, name: str) -> str | None:
        asked.append(name)
        return module(self, name)

    fresh, _ = _graph(PATHS)
    monkeypatch.setattr(graph.Graph, "_module", spy)
    for path, level, dotted in cases:
        fresh._find_module_of(path, level, dotted)
    assert asked and all(any(n == m or m.startswith(n + ".") for m in fresh._names) for n in asked)
    old_asked: list[str] = []

    def noting(self: Graph, n: str) -> str | None:
        old_asked.append(n)
        return module(self, n)

    monkeypatch.setattr(graph.Graph, "_module", noting)
    for path, level, dotted in cases:
        _old_find(_graph(PATHS)[0], path, level, dotted)
    assert len(asked) < len(old_asked)


def test_prefixes_cut_at_every_dot() -> None:
    g, _ = _graph(["odd.dir/x.py", "a/b/c.py"])
    assert g._prefixes == {"odd", "odd.dir", "odd.dir.x", "a", "a.b", "a.b.c"}
