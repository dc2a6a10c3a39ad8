"""The sabotage analysis makes no reference cycle (issue #17).

``analyze`` pauses the cyclic garbage collector while it runs, trusting
reference counting to free the file's tree and every fact computed from it.
A cycle (a bound method kept on the object it is bound to, a helper's resolver
holding the helper) would keep the whole tree alive until a full collection:
the session-8 code made one per file, and collections traversing those trees
took over a quarter of the check's CPU time on the 200-file change.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from traingate.checks.sabotage import module
from traingate.checks.sabotage.analysis import analyze

from .test_sabotage_cut import CASES, _lookup


@pytest.fixture
def paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _garbage(run: Callable[[], object]) -> int:
    """How many objects only the cyclic collector can free after ``run``."""
    gc.collect()
    run()
    module.release()  # the helpers' cache: an evicted helper must be freed too
    return gc.collect()


@pytest.mark.parametrize(("root", "path"), CASES, ids=[str(p.relative_to(r)) for r, p in CASES])
@pytest.mark.usefixtures("paused")
def test_analysis_leaves_no_cycle(root: Path, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    name = str(path.relative_to(root))
    n = len(source.splitlines())
    assert _garbage(lambda: analyze(source, name, _lookup(root, name))) == 0
    # The cut builds its facts lazily, name by name: the same holds.
    added = set(range(1, n + 1, 3))
    assert _garbage(lambda: analyze(source, name, _lookup(root, name), added)) == 0


def test_analysis_restores_the_collector() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        analyze("import os\nif os.environ.get('X'):\n    exit(1)\n")
        assert gc.isenabled()
        gc.disable()
        analyze("import os\n")
        assert not gc.isenabled()
        with pytest.raises(SyntaxError):
            gc.enable()
            analyze("def f(:\n")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
