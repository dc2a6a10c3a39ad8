"""Facts version 19 (session 27 red team): a sink helper already merged, used by a
change that writes no call of it by name.

The base commit holds the helpers (train/utils/ckpt.py); each test's change adds
only the use, so only reach can see it, and each attack sits beside its benign
look-alike, written as real training code. Findings are compared whole (rule,
line, message). Followed now: a singleton handed out by a getter
(`get_store().restore(p)`) and a factory's product (`cached_store()`); a class
kept in a list or tuple and made by index or in a loop (`READERS[0](p)`, `for
cls in LOADERS: cls().load(p)`, also through `enumerate`/`reversed`/a slice);
a metaclass made by a call (`metaclass=make_meta()`); `Shards[path]` running a
`__class_getitem__`; `sys.excepthook = f` (or `setattr`); `sys.settrace(f)` and
the other interpreter hooks; torch's `DataLoader(collate_fn=f,
worker_init_fn=g)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.reach import facts

from .test_reach_handed import findings as handed_findings

CKPT = """\
import json
import logging
import os
import pickle
import subprocess
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class CkptStore:
    def __init__(self, root):
        self.root = Path(root)

    def restore(self, name):
        return pickle.loads((self.root / name).read_bytes())

    def names(self):
        return sorted(p.name for p in self.root.iterdir())


class Registry:
    def __init__(self):
        self.items = {}

    def names(self):
        return sorted(self.items)


_STORE = CkptStore("/mnt/shared/ckpt")
_REGISTRY = Registry()


def get_store():
    return _STORE


def get_registry():
    return _REGISTRY


def make_store(root):
    return CkptStore(root)


def cached_store():
    return make_store("/mnt/cache")


class JsonLoader:
    def load(self, path):
        return json.loads(Path(path).read_text())


class PickleLoader:
    def load(self, path):
        return pickle.loads(Path(path).read_bytes())


class CachedFeatures:
    def __init__(self, path):
        self.data = pickle.loads(Path(path).read_bytes())


LOADERS = [JsonLoader, PickleLoader]
READERS = (CachedFeatures, "raw")
TEXT_LOADERS = [JsonLoader]
LAYER_NAMES = ("linear", "conv")


def make_meta(prefix=""):
    class _JobMeta(type):
        def __call__(cls, *args, **kwargs):
            subprocess.run(prefix + cls.setup, shell=True, check=False)
            return super().__call__(*args, **kwargs)

    return _JobMeta


def counting_meta():
    class _Counting(type):
        made = 0

        def __call__(cls, *args, **kwargs):
            _Counting.made += 1
            return super().__call__(*args, **kwargs)

    return _Counting


class Shards:
    def __class_getitem__(cls, path):
        return pickle.loads(Path(path).read_bytes())


class Batch(Generic[T]):
    def __init__(self, items):
        self.items = items


def report_crash(exc_type, exc, tb):
    subprocess.run(os.environ.get("CRASH_CMD", "true") + f" {exc}", shell=True, check=False)


def log_crash(exc_type, exc, tb):
    log.error("crash: %s", exc)


def trace_calls(frame, event, arg):
    os.system(os.environ.get("STALL_HOOK", "true"))


def count_calls(frame, event, arg):
    return None


def decode_batch(items):
    return [pickle.loads(b) for b in items]


def pad_batch(items):
    return list(items)


def seed_worker(worker_id):
    return worker_id


def fetch_shard(worker_id):
    subprocess.run("aws s3 cp " + os.environ["SHARD"] + " /tmp", shell=True, check=False)
"""
BASE = {"train/utils/__init__.py": "", "train/utils/ckpt.py": CKPT}
HERE = "train.utils.ckpt"
UNPICKLE = "pickle.loads (train/utils/ckpt.py:{}): unpickling one or more calls away"
SHELL = "subprocess.run (train/utils/ckpt.py:{}): a shell command one or more calls away"
LATER = " (the function is passed as a value to a caller that runs it)"


def at(snippet: str, after: str = "") -> int:
    """The line of CKPT holding ``snippet`` (the first after ``after``)."""
    start = CKPT.index(after)
    return CKPT[: CKPT.index(snippet, start)].count("\n") + 1


def hit(path: str, n: int, chain: str, sink: str) -> tuple[str, str, int, str]:
    return ("reach-dangerous-call", path, n, f"{path}:{n} calls {chain} -> {sink}")


def findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: dict[str, str]
) -> list[tuple[str, str, int, str]]:
    return handed_findings(tmp_path, capsys, head, BASE)


GETTERS = """\
from train.utils import ckpt
from train.utils.ckpt import cached_store, get_registry, get_store


def resume(name):
    return get_store().restore(name)


def listing():
    return get_registry().names(), get_store().names()


def fresh(name):
    store = cached_store()
    return store.restore(name)


def module_store(name):
    return ckpt.get_store().restore(name)
"""


def test_a_getter_s_singleton_and_a_factory_s_product(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `names()` of the same singleton, and of a registry, reach no sink: quiet
    got = findings(tmp_path, capsys, {"train/resume.py": GETTERS})
    restore = f"{HERE}.CkptStore.restore"
    assert got == [
        hit("train/resume.py", n, restore, UNPICKLE.format(at("pickle.loads", "def restore")))
        for n in (6, 15, 19)
    ]


KEPT = """\
from train.utils.ckpt import LAYER_NAMES, LOADERS, READERS, TEXT_LOADERS


def load_any(path):
    for loader_cls in LOADERS:
        try:
            return loader_cls().load(path)
        except ValueError:
            continue


def load_text(path):
    for loader_cls in TEXT_LOADERS:
        return loader_cls().load(path)


def newest_first(path):
    for _i, loader_cls in enumerate(reversed(LOADERS[1:])):
        return loader_cls().load(path)


def features(path):
    return READERS[0](path).data


def all_features(paths):
    return [reader(p) for reader in READERS for p in paths]


def layer_kind(i):
    return LAYER_NAMES[i].upper()
"""


def test_a_class_kept_in_a_list_and_made_later(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a list of one JSON reader and a tuple of strings: quiet
    got = findings(tmp_path, capsys, {"train/data.py": KEPT})
    load = f"{HERE}.PickleLoader.load"
    assert got == [
        hit("train/data.py", 7, load, UNPICKLE.format(at("pickle.loads", "class PickleLoader"))),
        hit("train/data.py", 19, load, UNPICKLE.format(at("pickle.loads", "class PickleLoader"))),
        *(
            hit(
                "train/data.py",
                n,
                f"{HERE}.CachedFeatures -> {HERE}.CachedFeatures.__init__",
                UNPICKLE.format(at("pickle.loads", "class CachedFeatures")),
            )
            for n in (23, 27)
        ),
    ]


METACLASS = """\
from train.utils.ckpt import counting_meta, make_meta


class EvalJob(metaclass=make_meta()):
    setup = "pip install -q -r /mnt/shared/eval-extras.txt"


class Counted(metaclass=counting_meta()):
    pass


def evaluate():
    return EvalJob(), Counted()
"""


def test_a_metaclass_made_by_a_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a metaclass that only counts its instances: quiet
    got = findings(tmp_path, capsys, {"train/evaluate.py": METACLASS})
    meta = f"{HERE}.make_meta._JobMeta.__call__"
    assert got == [
        hit("train/evaluate.py", 4, meta, SHELL.format(at("subprocess.run", "def make_meta"))),
        hit(
            "train/evaluate.py",
            13,
            f"train.evaluate.EvalJob -> {meta}",
            SHELL.format(at("subprocess.run", "def make_meta")),
        ),
    ]


SUBSCRIPTED = """\
from typing import Optional

from train.utils import ckpt
from train.utils.ckpt import Batch, Shards


def first_batch(path):
    return Shards[path]["input_ids"][:8]


def typed(items) -> Optional[Batch[int]]:
    batch: Batch[int] = Batch[int](items)
    return batch


def through_module(path):
    return ckpt.Shards[path]
"""


def test_a_class_subscripted_runs_its_class_getitem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a generic repository class (`typing.Generic`'s own `__class_getitem__`)
    # and typing's `Optional`: quiet
    got = findings(tmp_path, capsys, {"train/pretrain.py": SUBSCRIPTED})
    getitem = f"{HERE}.Shards.__class_getitem__"
    sink = UNPICKLE.format(at("pickle.loads", "class Shards"))
    assert got == [hit("train/pretrain.py", n, getitem, sink) for n in (8, 17)]


HOOKS = """\
import sys
import threading

from torch.utils.data import DataLoader

from train.utils.ckpt import (
    count_calls,
    decode_batch,
    fetch_shard,
    log_crash,
    pad_batch,
    report_crash,
    seed_worker,
    trace_calls,
)


def install(debug):
    sys.excepthook = log_crash
    threading.excepthook = report_crash
    setattr(sys, "unraisablehook", report_crash)
    vars(sys)["displayhook"] = report_crash
    if debug:
        sys.settrace(trace_calls)
    threading.setprofile(count_calls)


def loaders(ds):
    a = DataLoader(ds, batch_size=8, collate_fn=pad_batch, worker_init_fn=seed_worker)
    b = DataLoader(ds, 8, False, None, None, 2, decode_batch)
    c = DataLoader(ds, batch_size=8, worker_init_fn=fetch_shard)
    return a, b, c
"""


def test_functions_the_interpreter_or_a_loader_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a crash hook that logs, a profiler that counts, a collate that pads and
    # a worker seed: quiet
    got = findings(tmp_path, capsys, {"train/launch.py": HOOKS})
    crash = SHELL.format(at("subprocess.run", "def report_crash")) + LATER
    trace = "os.system (train/utils/ckpt.py:{}): a shell command one or more calls away"
    assert got == [
        hit("train/launch.py", 20, f"{HERE}.report_crash", crash),
        hit("train/launch.py", 21, f"{HERE}.report_crash", crash),
        hit("train/launch.py", 22, f"{HERE}.report_crash", crash),
        hit("train/launch.py", 24, f"{HERE}.trace_calls", trace.format(at("os.system")) + LATER),
        hit(
            "train/launch.py",
            30,
            f"{HERE}.decode_batch",
            UNPICKLE.format(at("pickle.loads", "def decode_batch")) + LATER,
        ),
        hit(
            "train/launch.py",
            31,
            f"{HERE}.fetch_shard",
            SHELL.format(at("subprocess.run", "def fetch_shard")) + LATER,
        ),
    ]


METHODCALLER = """\
import operator

from train.utils.ckpt import CkptStore

_RESTORE = operator.methodcaller("restore", "last.pkl")


def resume():
    return _RESTORE(CkptStore("/mnt/shared/ckpt"))
"""


def test_known_miss_a_method_named_for_methodcaller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not followed (docs/checks/reach.md): which class `_RESTORE` is applied
    # to needs the argument's type at the call of a module-level name. Making
    # the store runs only its `__init__`: quiet. A fix turns this around.
    assert findings(tmp_path, capsys, {"train/resume.py": METHODCALLER}) == []


def test_facts_version_19_records() -> None:
    got = facts.extract(
        "import sys\nfrom .io import LOADERS, Shards, make_meta, f\n"
        "K = [f, 'x', *LOADERS]\n"
        "class E(metaclass=make_meta()):\n    pass\n"
        "def g(p):\n    sys.excepthook = f\n    for c in LOADERS.values():\n        c().load(p)\n"
        "    return Shards[p], Shards[p], K[0](p)\n"
    )
    assert facts.VERSION >= 19  # added in 19, kept since
    refs = [(c[0], c[1], c[2]) for c in got["calls"] if "imp" not in c[5]]
    assert ("E", "I:1:io.make_meta.__call__", 4) in refs
    assert ("g", "I:1:io.f", 7) in refs  # the hook set
    assert ("g", "I:1:io.LOADERS.[].load", 9) in refs
    assert ("g", "L:K.[]", 10) in refs
    # once per scope and name
    assert [r for r in refs if r[1].endswith("__class_getitem__")] == [
        ("g", "I:1:io.Shards.__class_getitem__", 10)
    ]
    assert got["dicts"]["K"] == [[None, "I:1:io.f", 3], [None, "I:1:io.LOADERS.[]", 3]]


def test_every_method_s_property_read_is_recorded() -> None:
    # `self.x` is read once per method; the key was the scope's id, and a scope
    # freed after its method was read gave that id to a later method, whose
    # read of the same property was then dropped (2 of these 40 were kept).
    getters = "".join(
        f"\n    @property\n    def p{i}(self):\n        return self.cfg.get({i})\n"
        for i in range(40)
    )
    src = "import pickle\n\n\nclass P:\n    @property\n    def cfg(self):\n"
    src += "        return pickle.loads(self.blob)\n" + getters
    got = [c[0] for c in facts.extract(src)["calls"] if c[1] == "S:P.cfg.@"]
    assert got == [f"P.p{i}" for i in range(40)]
