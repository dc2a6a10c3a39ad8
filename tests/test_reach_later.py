"""Facts version 17 (session 25 red team): two more calls not written as calls.

A sink-reaching helper handed to a caller that runs it *later* (at exit, on a
signal, from an event loop or an exit stack, a scheduler; ``@atexit.register``
on a def), and a ``@property`` getter that reaches a sink, read as an
attribute (``Snapshot(blob).state``). Real git: the base commit holds the
helpers, the change adds the calls; each attack sits beside its benign
look-alike and the findings are compared whole (rule, line, message).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from traingate.checks.reach import facts

from .test_reach_handed import findings as handed_findings

HELPERS = """\
import functools
import logging
import pickle
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def run_tool(cmd, *args):
    return subprocess.run(cmd, shell=True, check=False)


def save_and_exit(signum, frame):
    log.warning("signal %s: saving and exiting", signum)
    raise SystemExit(0)


class Snapshot:
    def __init__(self, blob):
        self._blob = blob

    @property
    def state(self):
        return pickle.loads(self._blob)

    @state.setter
    def state(self, value):
        self._blob = pickle.dumps(value)

    @functools.cached_property
    def meta(self):
        return pickle.loads(self._blob)["meta"]

    def _unpickle(self):
        return pickle.loads(self._blob)

    raw = property(_unpickle)

    @property
    def size(self):
        return len(self._blob)


class Resumed(Snapshot):
    pass


class Manifest:
    def __init__(self, path):
        self.path = Path(path)

    @property
    def text(self):
        return self.path.read_text()

    @property
    def entries(self):
        return self.text.splitlines()
"""
HOOKS = """\
from train.utils.io import log, run_tool


def cleanup():
    run_tool("rm -rf /tmp/scratch")


def flush():
    log.info("bye")
"""
BASE = {"train/utils/io.py": HELPERS, "train/utils/__init__.py": "", "train/hooks.py": HOOKS}
SHELL = "train.utils.io.run_tool -> subprocess.run (train/utils/io.py:11): a shell command"
LATER = " one or more calls away (the function is passed as a value to a caller that runs it)"
PROP = " one or more calls away (a property read: its getter runs)"
# One name holds a property's getter and setter: a store reaches what either does.
SETTER = " one or more calls away (a property written: its setter runs)"


def read(path: str, n: int, qual: str, line: int, how: str = PROP) -> tuple[str, str, int, str]:
    """The finding of a property read at ``path:n`` whose getter unpickles."""
    chain = f"train.utils.io.{qual} -> pickle.loads (train/utils/io.py:{line}): unpickling"
    return ("reach-dangerous-call", path, n, f"{path}:{n} calls {chain}{how}")


def findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: Mapping[str, str]
) -> list[tuple[str, str, int, str]]:
    return handed_findings(tmp_path, capsys, head, BASE)


CALLED_LATER = """\
import asyncio
import atexit
import contextlib
import functools
import logging
import sched
import signal
import weakref
from signal import SIGUSR1
from signal import signal as on_signal

from train.utils.io import run_tool, save_and_exit

logger = logging.getLogger("train")
CMD = "rm -rf ~/.cache/wandb"


def at_exit(run, cfg):
    atexit.register(run_tool, CMD)
    atexit.register(logger.flush)
    atexit.register(print, "done")
    weakref.finalize(run, run_tool, cfg["cleanup"])
    signal.signal(signal.SIGTERM, save_and_exit)
    on_signal(SIGUSR1, run_tool)
    atexit.register(functools.partial(run_tool, CMD))
    atexit.register(lambda: logger.info("bye"))


def stacks(cfg):
    with contextlib.ExitStack() as stack:
        stack.callback(run_tool, cfg["post"])
        stack.callback(logger.flush)
        stack.enter_context(open("log.txt", "w"))


async def loops(cfg):
    loop = asyncio.get_running_loop()
    loop.call_soon(run_tool, cfg["cmd"])
    loop.call_later(5.0, logger.flush)
    await asyncio.get_event_loop().run_in_executor(None, run_tool, cfg["cmd"])
    loop.add_signal_handler(signal.SIGHUP, run_tool, cfg["cmd"])


def scheduled(cfg):
    s = sched.scheduler()
    s.enter(10, 1, run_tool, argument=(cfg["cmd"],))
    s.enter(10, 1, logger.flush)
    s.run()
"""


def test_functions_run_later(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # logger.flush, print, save_and_exit (a handler that only logs and exits)
    # and a lambda that only logs reach no sink: quiet. The partial is a call
    # of run_tool where it is written (facts version 8).
    got = findings(tmp_path, capsys, {"train/step.py": CALLED_LATER})
    later = [19, 22, 24, 31, 38, 40, 41, 46]
    want = [
        ("reach-dangerous-call", "train/step.py", n, f"train/step.py:{n} calls {SHELL}{LATER}")
        for n in later
    ]
    want.append(
        (
            "reach-dangerous-call",
            "train/step.py",
            25,
            f"train/step.py:25 calls {SHELL} one or more calls away",
        )
    )
    assert got == sorted(want)


DECORATED = HOOKS.replace("def cleanup", "import atexit\n\n\n@atexit.register\ndef cleanup")
DECORATED = DECORATED.replace("def flush", "@atexit.register\ndef flush")


def test_a_new_exit_decorator_on_an_old_def_is_a_call_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cleanup's own call of run_tool is old; the decoration is the new call.
    # flush only logs: quiet.
    got = findings(tmp_path, capsys, {"train/hooks.py": DECORATED})
    chain = f"train.hooks.cleanup -> {SHELL}"
    assert got == [
        ("reach-dangerous-call", "train/hooks.py", 7, f"train/hooks.py:7 calls {chain}{LATER}")
    ]


PROPERTIES = """\
from train.utils.io import Manifest, Resumed, Snapshot

CKPT = Snapshot(b"")


def restore(blob, path):
    state = Snapshot(blob).state
    snap = Snapshot(blob)
    meta = snap.meta
    raw = Snapshot(blob).raw
    inherited = Resumed(blob).state
    size = Snapshot(blob).size
    lines = Manifest(path).entries
    text = Manifest(path).text
    kept = snap._blob
    snap.state = {"step": 1}
    return state, meta, raw, inherited, size, lines, text, kept, CKPT.state
"""


def test_a_property_read_runs_its_getter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # size and Manifest's properties read a length and a file: quiet; so is a
    # plain attribute. The setter's pickle.dumps is no sink, but one name
    # holds both defs: the store is followed to what the getter does too.
    got = findings(tmp_path, capsys, {"train/resume.py": PROPERTIES})
    at = "train/resume.py"
    assert got == [
        read(at, 7, "Snapshot.state", 25),
        read(at, 9, "Snapshot.meta", 33),
        read(at, 10, "Snapshot._unpickle", 36),
        read(at, 11, "Snapshot.state", 25),
        read(at, 16, "Snapshot.state", 25, SETTER),
        read(at, 17, "Snapshot.state", 25),
    ]


def test_self_reading_a_property_in_another_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    added = "\n    def restore(self):\n        return self.state\n\n    def nbytes(self):\n        return self.size\n"
    head = HELPERS.replace("\n\nclass Resumed", added + "\n\nclass Resumed")
    got = findings(tmp_path, capsys, {"train/utils/io.py": head})
    line = head.splitlines().index("        return self.state") + 1
    assert got == [read("train/utils/io.py", line, "Snapshot.state", 25)]


def test_facts_record_property_reads_and_later_calls() -> None:
    got = facts.extract(HELPERS)
    assert got["props"] == {
        "Snapshot.state": ["L:Snapshot.state"],
        "Snapshot.meta": ["L:Snapshot.meta"],
        "Snapshot.raw": ["L:Snapshot._unpickle"],
        "Snapshot.size": ["L:Snapshot.size"],
        "Manifest.text": ["L:Manifest.text"],
        "Manifest.entries": ["L:Manifest.entries"],
    }
    reads = [(c[0], c[1]) for c in got["calls"] if c[5].get("pr")]
    # `self.text` is a property of the file; `self._blob` and `self.path` are not read.
    assert reads == [("Manifest.entries", "S:Manifest.text.@")]
    later = [(c[0], c[1], c[2]) for c in facts.extract(CALLED_LATER)["calls"] if c[5].get("ho")]
    assert [r for _q, r, _n in later].count("I:0:train.utils.io.run_tool") == 8
    # a read under a method call or a subscript is a read; the method is the call's
    chained = "from m import Snapshot\n\ndef f(b):\n    return Snapshot(b).state.items(), Snapshot(b).raw[0]\n"
    assert [c[1] for c in facts.extract(chained)["calls"] if c[5].get("pr")] == [
        "I:0:m.Snapshot.state.@",
        "I:0:m.Snapshot.raw.@",
    ]
    # a subclass's `@Base.state.getter` makes a property of its own
    sub = (
        "class Sub(Snapshot):\n    @Snapshot.state.getter\n    def state(self):\n        return 1\n"
    )
    assert facts.extract(sub)["props"] == {"Sub.state": ["L:Sub.state"]}


SUBCLASS = """\
from train.utils.io import Snapshot


class Shard(Snapshot):
    limit = 4

    def __init__(self, blob, name):
        super().__init__(blob)
        self.name = name

    def restore(self):
        return self.state

    def label(self):
        return self.name, self.limit, self.size

    @property
    def own(self):
        return self.meta


class Quiet(Snapshot):
    def _reset(self):
        self.state = None

    def restore(self):
        return self.state
"""


def test_self_reading_a_base_class_property_from_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # self.name is stored by the class, limit bound in its body, size a base
    # property that reaches no sink: quiet. A store written to excuse the
    # read of a name (Quiet.restore reads what it stores) is itself the call.
    got = findings(tmp_path, capsys, {"train/shard.py": SUBCLASS})
    at = "train/shard.py"
    assert got == [
        read(at, 12, "Snapshot.state", 25),
        read(at, 19, "Snapshot.meta", 33),
        read(at, 24, "Snapshot.state", 25, SETTER),
    ]
