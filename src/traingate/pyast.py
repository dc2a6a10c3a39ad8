"""``ast.parse`` for every check, one thread at a time.

CPython 3.11 converts a parsed tree to Python objects with a recursion-depth
counter kept per interpreter, not per thread. The engine runs the semgrep check
in a thread beside the others (issue #17), so two parses at once could fail
with ``SystemError: AST constructor recursion depth mismatch`` (CPython
gh-106905; seen here in about 1 check in 10 of a large file): a flaky exit 3,
or the semgrep check scanning a whole file where it meant to cut it. Every
parse of traingate goes through here instead; a parse holds the GIL for most
of its time anyway, so the lock costs next to nothing.

The cyclic garbage collector is paused while a tree is built: a large file's
millions of new nodes otherwise start collections that traverse every live
object, the trees other checks hold included (issue #17: a parse took 5x as
long with 80 MB of trees alive; 3 of a 200-file change's ~32 CPU s went to
it). A tree holds no reference cycle, so pausing loses nothing.
"""

from __future__ import annotations

import ast
import gc
import threading
from typing import Any

_LOCK = threading.RLock()


def parse(source: str | bytes, filename: str = "<unknown>", **kwargs: Any) -> ast.Module:
    with _LOCK:
        was = gc.isenabled()
        gc.disable()
        try:
            tree = ast.parse(source, filename, **kwargs)
        finally:
            if was:
                gc.enable()
    assert isinstance(tree, ast.Module)  # mode "exec", the only one used
    return tree


def literal_eval(text: str) -> Any:
    with _LOCK:
        return ast.literal_eval(text)
