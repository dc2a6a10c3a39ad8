"""Facts version 14 (issue #16): calls that are not written as calls.

A sink-reaching helper handed as a value to a caller that runs it
(``ex.map(restore_blob, blobs)``, ``Thread(target=...)``), and one looked up
by a run-time name in a module imported by a literal name
(``getattr(import_module("train.ckpt_io"), fmt)(raw)``): the insider audit's
two reach limitations (tests/test_insider_surfaces.py). Each attack sits
beside its benign look-alike; the findings are compared whole (rule, line,
message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.reach import facts
from traingate.cli import main

from .conftest import Repo
from .test_insider_surfaces import only

SINKS = """\
import io
import pickle


def restore_blob(raw):
    return pickle.load(io.BytesIO(raw))


def describe(raw):
    return len(raw)
"""
BASE = {"train/ckpt_io.py": SINKS, "train/__init__.py": ""}
CHAIN = "train.ckpt_io.restore_blob -> pickle.load (train/ckpt_io.py:6): unpickling one or more calls away"
HANDED = " (the function is passed as a value to a caller that runs it)"
BY_NAME = (
    " (getattr of a module with a name chosen at run time: any of its functions"
    " may be the one called)"
)


def findings(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    head: Mapping[str, str],
    base: Mapping[str, str] | None = None,
) -> list[tuple[str, str, int, str]]:
    """Reach's findings on a change that adds ``head`` to a base with ``base``'s
    helpers (this module's BASE unless given; test_reach_later.py has its own)."""
    repo = Repo(tmp_path / "repo")
    repo.write(".traingate.yaml", only("reach"))
    for path, content in (BASE if base is None else base).items():
        repo.write(path, content)
    repo.commit("base")
    repo.branch("feature")
    for path, content in head.items():
        repo.write(path, content)
    repo.commit("change", who="mallory")
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    main([*argv, "--format", "json", "--cache-dir", str(tmp_path / "cache")])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return sorted((f["rule_id"], f["path"], f["line"], f["message"]) for f in doc["findings"])


HIGHER_ORDER = """\
import functools
import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor

from .ckpt_io import describe, restore_blob


def load_all(blobs):
    with ThreadPoolExecutor(4) as ex:
        first = ex.submit(restore_blob, blobs[0])
        sizes = list(ex.map(describe, blobs))
        names = list(ex.map(str.upper, ["a"]))
    with mp.Pool(2) as pool:
        rest = pool.imap_unordered(restore_blob, blobs)
    merged = functools.reduce(lambda a, b: a + b, sizes)
    return first, rest, names, merged, list(map(restore_blob, blobs))


class Trainer:
    def start(self):
        threading.Thread(target=self._log_loop, daemon=True).start()
        threading.Thread(target=restore_blob, args=(b"",)).start()

    def _log_loop(self):
        print("alive")
"""


def test_functions_handed_to_higher_order_callers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # describe, str.upper, a lambda and self._log_loop reach no sink: quiet.
    got = findings(tmp_path, capsys, {"train/bulk.py": HIGHER_ORDER})
    assert got == [
        ("reach-dangerous-call", "train/bulk.py", n, f"train/bulk.py:{n} calls {CHAIN}{HANDED}")
        for n in (11, 15, 17, 23)
    ]


def test_a_shadowed_map_is_not_the_builtin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = (
        "from .ckpt_io import restore_blob\n\n\n"
        "def map(fn, xs):\n    return [str(x) for x in xs]\n\n\n"
        "def run(blobs):\n    return map(restore_blob, blobs)\n"
    )
    assert findings(tmp_path, capsys, {"train/m.py": src}) == []


DYNAMIC = """\
import importlib
from importlib import import_module


def load(raw, fmt):
    return getattr(importlib.import_module("train.ckpt_io"), fmt)(raw)


def load_split(raw, fmt):
    mod = import_module("train.ckpt_io")
    fn = getattr(mod, fmt)
    return fn(raw)


def dump(obj, name):
    js = import_module("json")
    return getattr(js, "dumps")(obj), getattr(js, name)(obj)
"""


def test_run_time_name_in_a_module_named_by_a_literal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `json` is no repository module: its attributes reach nothing here.
    got = findings(tmp_path, capsys, {"train/dyn.py": DYNAMIC})
    assert got == [
        ("reach-dangerous-call", "train/dyn.py", n, f"train/dyn.py:{n} calls {CHAIN}{BY_NAME}")
        for n in (6, 12)
    ]


def test_a_module_without_sinks_looked_up_by_name_is_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = {"train/fmt.py": "def describe(raw):\n    return len(raw)\n"}
    src = (
        "import importlib\n\n\n"
        "def run(raw, fmt):\n"
        '    return getattr(importlib.import_module("train.fmt"), fmt)(raw)\n'
    )
    assert findings(tmp_path, capsys, {**plain, "train/run.py": src}) == []


def test_facts_record_the_handed_function_where_it_is_handed() -> None:
    calls = facts.extract(HIGHER_ORDER)["calls"]
    handed = [(c[0], c[1], c[2]) for c in calls if c[5].get("ho")]
    assert handed == [
        ("load_all", "I:1:ckpt_io.restore_blob", 11),
        ("load_all", "I:1:ckpt_io.describe", 12),
        ("load_all", "I:1:ckpt_io.restore_blob", 15),
        ("load_all", "I:1:ckpt_io.restore_blob", 17),
        ("Trainer.start", "S:Trainer._log_loop", 22),
        ("Trainer.start", "I:1:ckpt_io.restore_blob", 23),
    ]
