"""Temporary trees a full scan removes while its CPUs have other work (issue #17).

A scan's semgrep check writes every target to disk (check.py's spill, the
stream's links in pipeline.py: 4,243 files and as many links on the
eight-library corpus). Removed as the check ended, they held its thread
(and so reach, and the worker forked beside it, which wait for that thread)
for 0.2 s on a quiet machine and 3.5-10.6 s on a loaded one, at ~0.3 CPU s:
the files were written back by then, and freeing their blocks waits on the
disk (``/`` is mounted with ``discard``). While a full scan collects them
(``collect``), ``leave`` hands a tree to the scan, which removes it in a
thread beside reach (fullscan.py); anywhere else it is removed at once, as
``TemporaryDirectory`` does on leaving its block.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator

TempTree = tempfile.TemporaryDirectory[str]
_collected: list[TempTree] | None = None
_lock = threading.Lock()


def leave(tree: TempTree) -> None:
    """``tree`` is no longer used: removed now, or by the full scan collecting."""
    with _lock:
        if _collected is not None:
            _collected.append(tree)
            return
    tree.cleanup()


@contextlib.contextmanager
def collect() -> Iterator[list[TempTree]]:
    """The trees left while the block runs (the caller removes them: ``remove``);
    any still there when it ends are removed then."""
    global _collected
    got: list[TempTree] = []
    with _lock:
        _collected = got
    try:
        yield got
    finally:
        with _lock:
            _collected = None
        remove(got)


def remove(trees: list[TempTree]) -> None:
    """Remove ``trees`` (emptied as they go); the first failure is raised
    after every tree was tried."""
    first: BaseException | None = None
    while trees:
        try:
            trees.pop().cleanup()
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first
