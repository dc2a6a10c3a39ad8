"""The reach check's cold costs (issue #17, session 15), findings unchanged.

Three costs of a cold scan went: the cyclic collector's passes over the facts
a scan holds (the check pauses it, and gives it back as it found it); the
compaction of calls and writes a scan drops once their file is streamed
(``Compactor.facts(rows=False)``; a file held before its turn is compacted
then); and half of each cache write (``_atomic_write`` without mkstemp).
Each must leave the findings, the facts and the cache entries as they were:
here a cold scan, a warm one and a scan with no cache find the same chains,
on a tree whose helpers are streamed both before and after their callers
(held whole, then slim), beside benign training helpers that stay quiet.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

import traingate.checks.reach as reach
from traingate.change import scan_paths
from traingate.checks.reach import facts as factsmod
from traingate.checks.reach import summary
from traingate.checks.reach.compact import Compactor, Flags
from traingate.engine import evaluate
from traingate.policy.load import load_file

from .test_reach import NO_SEMGREP

TREE = {
    # helpers sorted before their callers (streamed first) ...
    "aaa/io.py": "import pickle\n\n\ndef load_blob(b):\n    return pickle.loads(b)\n",
    "aaa/__init__.py": "from .io import load_blob as fetch\n",
    # ... and after (a lookup holds them whole until their turn)
    "mid/train.py": "from aaa import fetch\nfrom zzz.run import shell\n\n\n"
    "def main(b, c):\n    fetch(b)\n    shell(c)\n",
    "zzz/run.py": "import subprocess\n\n\ndef shell(c):\n    subprocess.run(c, shell=True)\n",
    # benign look-alikes: a checkpoint helper with weights_only, a logger
    "mid/ckpt.py": "import torch\n\n\ndef restore(p):\n    return torch.load(p, weights_only=True)\n",
    "mid/log.py": "import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
    "def step(loss):\n    log.info('loss %s', float(loss))\n",
    "mid/use.py": "from mid.ckpt import restore\nfrom mid.log import step\n\n\n"
    "def go(p, loss):\n    restore(p)\n    step(loss)\n",
}


def _scan(root: Path, cache: Path | None) -> list[tuple[str, str, int | None, str]]:
    report = evaluate(
        scan_paths([root], root), load_file(root / ".traingate.yaml"), cache_dir=cache
    )
    assert report.errors == []
    return [(f.rule_id, f.path, f.line, f.message) for f in report.findings if f.check == "reach"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".traingate.yaml").write_text(NO_SEMGREP)
    return root


def test_cold_warm_and_uncached_scans_find_the_same_chains(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cold = _scan(tree, cache)
    parsed = summary.STATS["parsed"]
    warm = _scan(tree, cache)
    assert summary.STATS["parsed"] == parsed  # the entries written cold are read back
    assert cold == warm == _scan(tree, None)
    where = sorted((path, line) for _rule, path, line, _msg in cold)
    # both helpers' calls in train.py; the weights_only load and the logger are quiet
    assert where == [("mid/train.py", 6), ("mid/train.py", 7)]
    assert all(rule == "reach-dangerous-call" for rule, *_ in cold)
    entries = list((cache / "reach").rglob("*"))
    assert not [p for p in entries if p.name.endswith(".tmp")]  # no write left behind


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_during_the_check_and_given_back(
    tree: Path, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = reach._run

    def spy(ctx: Any) -> Any:
        seen.append(gc.isenabled())
        return real(ctx)

    monkeypatch.setattr(reach, "_run", spy)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert len(_scan(tree, None)) == 2
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_collector_given_back_when_the_check_fails(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(reach, "_run", boom)
    assert gc.isenabled()
    report = evaluate(scan_paths([tree], tree), load_file(tree / ".traingate.yaml"))
    assert any("boom" in e for e in report.errors)  # fail closed, as before
    assert gc.isenabled()


SRC = (
    b"import pickle\nimport socket\n\n\ndef f(b, weights_only=False):\n"
    b"    s = socket.socket()\n    s.connect(('h', 1))\n    s.send(b)\n"
    b"    return pickle.loads(b)\n\n\nimport torch\ntorch.nn.Linear.forward = f\n"
)


def test_rows_left_as_extracted_equal_and_dump_the_same() -> None:
    want = summary._parse(SRC, "m.py")
    assert want["calls"] and want["writes"]
    text = json.dumps(want, sort_keys=True)
    lean = Compactor().facts(json.loads(text), rows=False)
    assert json.dumps(lean, sort_keys=True) == text
    assert not any(isinstance(row[-1], Flags) for row in lean["calls"] + lean["writes"])
    compact = Compactor()
    full = compact.facts(json.loads(text))
    compact.rows(lean)  # a held file's rows, compacted in place: as ``facts`` does
    compact.rows(lean)  # twice is once
    assert lean == full == want
    assert all(isinstance(row[-1], Flags) for row in lean["calls"] + lean["writes"])


def test_cache_entry_is_the_json_it_was(tmp_path: Path) -> None:
    cache = summary._Cache(tmp_path)
    oid = "ab" * 20
    facts = {**factsmod.extract(SRC.decode() + "x = 'é'\n"), "size": len(SRC)}
    cache.store(oid, facts)
    cache.store(oid, facts)  # replaced, not refused
    path = tmp_path / "reach" / summary._SALT / oid[:2] / f"{oid}.json"
    assert path.read_text(encoding="utf-8") == json.dumps(
        {"oid": oid, "facts": facts}, separators=(",", ":")
    )
    assert cache.load(oid) == json.loads(json.dumps(facts))
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{oid}.json"]
    if os.name == "posix" and os.geteuid() != 0:  # root writes anywhere
        path.parent.chmod(0o500)
        try:
            cache.store("ab" + "cd" * 19, facts)  # another entry in that directory
        finally:
            path.parent.chmod(0o700)
        assert cache.load("ab" + "cd" * 19) is None  # a write that fails is a miss
