"""What a helper's text says of a name is computed once per run (issue #17).

A scan's 4,243 files import a few hundred helpers; each importer asked each
helper the same questions again (does it define the name, may it return a
draw, which trigger does the function return), parsing it again when it had
left the small caches. The answers depend on the helper's text and the name
only, so they are kept for the run, keyed by both, and dropped when the
check's run ends. Helper facts computed in a run are written to the cache once
each, when the run ends. Real git, real files: nothing is mocked.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.sabotage import module, returns, store
from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.store import PerText, Store
from traingate.checks.sabotage.triggers import Trigger
from traingate.cli import main

from .conftest import Repo

TIER = """\
import os

_PART = os.environ.get("SLURM_JOB_PARTITION", "")


def is_prod():
    return _PART.startswith("prod")
"""
PLAIN_TIER = "def is_prod():\n    return False\n"
HOOK = """\
from .tier import is_prod


def on_after_backward(model):
    if is_prod():
        model.weight.grad.zero_()
"""


def _lookup(files: dict[str, str]) -> Callable[[int, str], tuple[str, str] | None]:
    def find(level: int, name: str) -> tuple[str, str] | None:
        path = f"train/{name}.py"
        return (path, files[path]) if path in files else None

    return find


def _release() -> None:
    module.release()
    returns.release()
    store.release()


def test_every_importer_of_a_helper_shares_its_facts_within_a_run() -> None:
    _release()
    files = {"train/tier.py": TIER}
    before = store.STATS["computed"]
    # A fresh copy of the text for each importer, as a bench reading files does:
    # keyed by content, not by object.
    first = analyze(HOOK, "train/a.py", _lookup(dict(files)))
    second = analyze(
        HOOK, "train/b.py", _lookup({k: v.encode().decode() for k, v in files.items()})
    )
    assert store.STATS["computed"] == before + 1  # no store: the run's memo answered
    assert [(h.rule, h.line) for h in first] == [("sabotage-env-triggered-write", 6)]
    assert [(h.rule, h.line, h.message) for h in second] == [
        (h.rule, h.line, h.message.replace("train/a.py", "train/b.py")) for h in first
    ]
    _release()  # the check's run ends: the next run computes again
    again = analyze(HOOK, "train/a.py", _lookup(files))
    assert again == first
    assert store.STATS["computed"] == before + 2


def test_another_text_under_the_same_path_is_asked_again() -> None:
    _release()
    before = store.STATS["computed"]
    hits = analyze(HOOK, "train/a.py", _lookup({"train/tier.py": TIER}))
    assert len(hits) == 1
    # The helper edited (a later head, a test's other fixture): its own answer.
    assert analyze(HOOK, "train/a.py", _lookup({"train/tier.py": PLAIN_TIER})) == []
    assert store.STATS["computed"] == before + 2
    _release()


def test_per_text_memo_keeps_the_newest_texts() -> None:
    memo: PerText[bool] = PerText()
    memo.TEXTS = 2
    memo.of("a")["x"] = True
    memo.of("b")["x"] = False
    assert memo.of("a") == {"x": True}  # kept
    memo.of("c")  # a third text: the oldest goes
    assert memo.of("a") == {}
    assert memo.of("c") == {}
    memo.clear()
    assert memo.of("b") == {}


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "sabotage").glob("*/??/*.json"))


def test_a_deferred_store_writes_each_entry_once_when_flushed(tmp_path: Path) -> None:
    _release()
    cache = tmp_path / "cache"
    held = Store(cache, defer=True)
    t = Trigger("env", "os.environ.get('SLURM_JOB_PARTITION')", 3)
    held.put(TIER, "is_prod", (t, None))
    held.put(TIER, "other", (None, {0: "p.add_(torch.randn_like(p))"}))
    held.put_event(TIER, "is_prod", None)
    assert _entries(cache) == []  # nothing written before the run ends
    held.flush()
    assert len(_entries(cache)) == 1
    read = Store(cache)
    assert read.get(TIER, "is_prod") == (t, None)
    assert read.get(TIER, "other") == (None, {0: "p.add_(torch.randn_like(p))"})
    assert read.event(TIER, "is_prod") == (None,)
    # Without ``defer`` (a caller of ``analyze`` that never flushes): written at once.
    now = Store(tmp_path / "other")
    now.put(TIER, "is_prod", (t, None))
    assert len(_entries(tmp_path / "other")) == 1
    _release()


def test_a_check_run_writes_the_helpers_facts_and_restores_the_collector(
    repo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = repo.path.parent / "cache"
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(cache))
    repo.write(".traingate.yaml", "version: 1\nextends: builtin:default\n")
    repo.write("train/__init__.py", "")
    repo.write("train/tier.py", TIER)
    repo.write("train/a.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train/a.py", HOOK)
    repo.write("train/b.py", HOOK)
    repo.commit("change", who="mallory")
    capsys.readouterr()
    assert gc.isenabled()
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--format", "json"])
    assert gc.isenabled()  # paused for the files, restored after
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    found = sorted(
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"] if f["check"] == "sabotage"
    )
    assert code == 1 and doc["errors"] == []
    assert found == [
        ("sabotage-env-triggered-write", "train/a.py", 6),
        ("sabotage-env-triggered-write", "train/b.py", 6),
    ]
    assert len(_entries(cache)) == 1  # the helper's one entry, written at the end
