"""Functions handed as values to a caller that runs them (facts version 14, issue #16;
callers that run it later, at exit, on a signal or from an event loop: version 17;
the interpreter's hooks, set by a call or an assignment, and torch's
``DataLoader`` ``collate_fn``/``worker_init_fn``: version 19).

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
# Version 17 (session 25 red team: ``atexit.register(run_tool, "rm -rf ...")``):
# callers that keep the function and run it later. A loop is what these
# calls return, bound to a name or used in place (``_ref`` of ``loop.call_soon``).
_LOOPS = (
    "asyncio.get_event_loop",
    "asyncio.get_running_loop",
    "asyncio.new_event_loop",
    "asyncio.events.get_event_loop",
    "asyncio.events.get_running_loop",
    "asyncio.events.new_event_loop",
)
_TORCH_DATA = ("torch.utils.data", "torch.utils.data.dataloader")
_STACKS = ("contextlib.ExitStack", "contextlib.AsyncExitStack")
_LATER: dict[str, tuple[int | None, str | None]] = {
    "I:0:atexit.register": (0, None),
    "I:0:weakref.finalize": (1, None),
    "I:0:signal.signal": (1, None),
    **{f"I:0:{s}.callback": (0, None) for s in _STACKS},
    **{f"I:0:{s}.push": (0, None) for s in _STACKS},
    "I:0:contextlib.AsyncExitStack.push_async_callback": (0, None),
    "I:0:contextlib.AsyncExitStack.push_async_exit": (0, None),
    **{f"I:0:{lp}.{m}": (0, None) for lp in _LOOPS for m in ("call_soon", "call_soon_threadsafe")},
    **{
        f"I:0:{lp}.{m}": (1, None)
        for lp in _LOOPS
        for m in ("call_later", "call_at", "add_signal_handler", "add_reader", "add_writer")
    },
    **{f"I:0:{lp}.run_in_executor": (1, None) for lp in _LOOPS},
    "I:0:sched.scheduler.enter": (2, "action"),
    "I:0:sched.scheduler.enterabs": (2, "action"),
    # Session 27: the interpreter's own hooks, run on every call (a trace or
    # profile function) or every audited event, once installed.
    **{f"I:0:{m}.{f}": (0, None) for m in ("sys", "threading") for f in ("settrace", "setprofile")},
    "I:0:threading.settrace_all_threads": (0, None),
    "I:0:threading.setprofile_all_threads": (0, None),
    "I:0:sys.addaudithook": (0, None),
}
# Session 27: assigned, not called: the interpreter calls what these hold (an
# uncaught exception, an unraisable one, a value echoed, ``breakpoint()``).
HOOK_ATTRS = frozenset(
    {
        "I:0:sys.excepthook",
        "I:0:sys.unraisablehook",
        "I:0:sys.displayhook",
        "I:0:sys.breakpointhook",
        "I:0:threading.excepthook",
    }
)
# Those whose own extra keywords reach the function (``atexit.register(f,
# k=v)`` runs ``f(k=v)``); a loop's ``context=`` does not, and ``sched``
# forwards its ``kwargs=`` (``FORWARDS_KEYWORDS``).
_LATER_OWN = frozenset(
    {
        "I:0:atexit.register",
        "I:0:weakref.finalize",
        *(f"I:0:{s}.callback" for s in _STACKS),
        "I:0:contextlib.AsyncExitStack.push_async_callback",
    }
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
    # Session 26: a default factory runs when a value is missing (an
    # instance made, a key read), a comparison key for each element sorted.
    "I:0:dataclasses.field": (None, "default_factory"),
    "I:0:pydantic.Field": (None, "default_factory"),
    "I:0:pydantic.fields.Field": (None, "default_factory"),
    **{f"I:0:{m}.{f}": (None, "factory") for m in ("attr", "attrs") for f in ("ib", "field")},
    "I:0:attr.attrib": (None, "factory"),
    **{f"I:0:{m}.Factory": (0, "factory") for m in ("attr", "attrs")},
    "I:0:collections.defaultdict": (0, None),
    "I:0:functools.cmp_to_key": (0, None),
    # Session 27: torch's loader calls its `collate_fn` on every batch (and
    # `worker_init_fn` in every worker, ``ALSO``); nothing else is named so.
    **{f"I:0:{d}.DataLoader": (6, "collate_fn") for d in _TORCH_DATA},
    **_LATER,
}
# A second function a caller in ``HANDED`` runs, at its own (position, keyword).
ALSO: dict[str, tuple[int | None, str | None]] = {
    f"I:0:{d}.DataLoader": (10, "worker_init_fn") for d in _TORCH_DATA
}
# Builtins, called by their bare name (not shadowed in the file).
BUILTINS: dict[str, tuple[int | None, str | None]] = {
    "map": (0, None),
    "filter": (0, None),
    "sorted": (None, "key"),  # session 26: `sorted(blobs, key=restore_blob)`
    "min": (None, "key"),
    "max": (None, "key"),
}
# A method of any receiver that calls its ``key=`` on each element (a list's,
# a pandas frame's ``sort_values``): nothing but sorting takes that keyword there.
KEYED_METHODS = frozenset({"sort", "sort_values", "sort_index"})
# Keywords a higher-order caller passes on to the function as keywords: then
# any keyword may reach it (``flags["star"]``).
FORWARDS_KEYWORDS = frozenset({"kwargs", "kwds"})
# The callers that pass their own extra keywords on (``submit(fn, x, k=v)``).
FORWARDS_OWN = frozenset(
    r for r in HANDED if r.endswith(".submit") or r.endswith("to_thread") or r in _LATER_OWN
)
# Used bare as a decorator, these run (or keep to run) the decorated def and
# return it (``@atexit.register``, ``@stack.callback``): a call of the def
# where it is decorated (version 17). Only those taking the function first.
DECORATING = frozenset(
    {"I:0:atexit.register", *(f"I:0:{s}.{m}" for s in _STACKS for m in ("callback", "push"))}
    | {"I:0:contextlib.AsyncExitStack.push_async_callback"}
)


# How a call recorded by facts version 14 (17) runs its target (issue #16).
HOW_CALLED = {  # the first that applies: "any" before "ho", as until version 17
    "any": " (getattr of a module with a name chosen at run time: any of its functions"
    " may be the one called)",
    "ho": " (the function is passed as a value to a caller that runs it)",
    "kp": " (the function is kept for a later call: whatever holds it may call it)",  # version 18
    "pr": " (a property read: its getter runs)",  # facts version 17
    "pw": " (a property written: its setter runs)",
}
