"""Functions handed as values to a caller that runs them (facts version 14, issue #16).

``ex.map(restore_blob, blobs)``, ``Thread(target=restore_blob)``: the helper's
name is on the line, but not as a call, so a chain that follows calls only
never starts there (the insider audit's class 4: a sink-reaching helper that
the base already had, handed to an executor by the change). A function passed
in the argument position of a known higher-order caller is recorded as a call
of it at the higher-order call, with unknown positional arguments.

Only callers known to run the function are listed: a ``.map`` of an unknown
object (a dataset, a pandas column) may store it or never call it, and every
such name would be a guess.
"""

from __future__ import annotations

# ref of the higher-order callable -> (position, keyword) of the function it runs
_POOL = ("map", "imap", "imap_unordered", "map_async", "starmap", "starmap_async")
_POOL_ONE = ("apply", "apply_async")
_POOLS = (
    "multiprocessing.Pool",
    "multiprocessing.pool.Pool",
    "multiprocessing.pool.ThreadPool",
    "multiprocessing.dummy.Pool",
)
_EXECUTORS = (
    "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.Executor",
    "concurrent.futures.thread.ThreadPoolExecutor",
    "concurrent.futures.process.ProcessPoolExecutor",
)

HANDED: dict[str, tuple[int | None, str | None]] = {
    **{f"I:0:{p}.{m}": (0, "func") for p in _POOLS for m in _POOL + _POOL_ONE},
    **{f"I:0:{e}.{m}": (0, "fn") for e in _EXECUTORS for m in ("map", "submit")},
    "I:0:threading.Thread": (1, "target"),
    "I:0:multiprocessing.Process": (1, "target"),
    "I:0:threading.Timer": (1, "function"),
    "I:0:functools.reduce": (0, "function"),
    "I:0:asyncio.to_thread": (0, "func"),
    "I:0:itertools.starmap": (0, "function"),
}
# Builtins, called by their bare name (not shadowed in the file).
BUILTINS: dict[str, tuple[int | None, str | None]] = {
    "map": (0, None),
    "filter": (0, None),
}
# Keywords a higher-order caller passes on to the function as keywords: then
# any keyword may reach it (``flags["star"]``).
FORWARDS_KEYWORDS = frozenset({"kwargs", "kwds"})
# The callers that pass their own extra keywords on (``submit(fn, x, k=v)``).
FORWARDS_OWN = frozenset(r for r in HANDED if r.endswith(".submit") or r.endswith("to_thread"))
