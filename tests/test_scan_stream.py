"""A scan's files are screened while its first batches already run (issue #17).

The wheel corpus's 4,191 files were all read, spilled and screened by one CPU
before the first semgrep batch started; now each scan batch's worth goes to
semgrep as soon as it is screened. Streaming may change when semgrep starts,
never what it decides: the same report as one batched run, a batch lost or
failing blocks. Real git, real semgrep, the shipped (screened) pack.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.semgrep import check, pipeline, runner
from traingate.cli import main

from .conftest import POLICY, Repo
from .semgrep_wrappers import drop_first_batch
from .test_semgrep_pipeline import counting

NO_OTHERS = (
    POLICY
    + "checks:\n"
    + "".join(
        f"  {c}: {{enabled: false}}\n" for c in ("reach", "sabotage", "unicode", "suppression")
    )
)


@pytest.fixture
def corpus(repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """Twelve payloads among benign training code, in file order interleaved."""
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    repo.write(".traingate.yaml", NO_OTHERS)
    for i in range(12):
        repo.write(f"lib/m{i:02d}.py", f"import os\n\n\ndef f{i}(x):\n    return os.system(x)\n")
        repo.write(
            f"lib/t{i:02d}.py",
            "import torch\n\n\n"
            f"def train_{i}(model, loader, optimizer):\n"
            "    for x, y in loader:\n"
            "        loss = torch.nn.functional.cross_entropy(model(x), y)\n"
            "        optimizer.zero_grad()\n"
            "        loss.backward()\n"
            "        optimizer.step()\n",
        )
    repo.commit("code")
    return repo


def scan(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["scan", str(repo.path), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def streamed(monkeypatch: pytest.MonkeyPatch, flush_bytes: int) -> None:
    """Stream a scan from ``flush_bytes`` of heads on, a batch of that size each."""
    monkeypatch.setattr(check, "FLUSH_BYTES", flush_bytes)
    monkeypatch.setattr(check, "SCAN_BATCH_BYTES", flush_bytes)
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)


def where(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((f["rule_id"], f["path"], f["line"]) for f in doc["findings"])


def test_a_streamed_scan_decides_as_one_batched_run(
    corpus: Repo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    streamed(monkeypatch, 10**9)  # never streams: every file screened, then batches
    whole = scan(corpus, capsys)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    starts = counting(tmp_path, monkeypatch)
    streamed(monkeypatch, 300)  # about two files a batch
    # When each semgrep process started, against when the last file was screened.
    started: list[float] = []
    named: list[float] = []
    real_invoke, real_name = runner._invoke, runner.Engine.name

    def invoke(*args: Any, **kw: Any) -> Any:
        started.append(time.monotonic())
        return real_invoke(*args, **kw)

    def name(self: runner.Engine, *args: Any) -> Any:
        named.append(time.monotonic())
        return real_name(self, *args)

    monkeypatch.setattr(pipeline, "_invoke", invoke)
    monkeypatch.setattr(runner.Engine, "name", name)
    code, doc = scan(corpus, capsys)
    assert (code, where(doc), doc["errors"]) == (whole[0], where(whole[1]), whole[1]["errors"])
    assert code == 1 and len(where(doc)) == 12, where(doc)
    assert {r for r, _, _ in where(doc)} == {"exec-os-command"}
    assert len(list(starts.iterdir())) > 2 and len(started) > 2
    assert min(started) < max(named)  # semgrep ran while later files were screened


def test_a_batch_the_streamed_scan_never_runs_blocks(
    corpus: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attacker's hope: files lost between screening and semgrep pass."""
    streamed(monkeypatch, 300)
    drop_first_batch(monkeypatch)
    code, doc = scan(corpus, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert re.search(r"semgrep was not run on [1-9]\d* of the files", doc["errors"][0])


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_failing_batch_fails_the_streamed_scan(
    corpus: Repo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_at: int,
) -> None:
    streamed(monkeypatch, 300)
    counting(tmp_path, monkeypatch, fail_at=fail_at)
    code, doc = scan(corpus, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert "semgrep exited with code 2" in doc["errors"][0]
