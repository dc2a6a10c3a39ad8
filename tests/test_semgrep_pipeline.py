"""A large change's heads are scanned while its later files are still being cut
(issue #17, checks/semgrep/pipeline.py). Streaming may change when semgrep
starts, never what it decides: the same findings as one batched run, every
head answered for or the run fails, a failing batch fails the run, and a warm
re-check starts no semgrep for the heads."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.semgrep import check, pipeline, runner
from traingate.checks.semgrep.schedule import MemoryGate

from .conftest import Repo
from .semgrep_wrappers import drop_first_batch, wrap_semgrep
from .test_semgrep_check import found, run_json, srepo  # noqa: F401  (fixture)

# Numbers semgrep starts; fails the FAIL_AT-th start (0: never) as a crashed semgrep does.
WRAPPER = """\
import os, subprocess, sys
starts, fail_at, exe = sys.argv[1:4]
os.makedirs(starts, exist_ok=True)
n = 1
while True:  # this start's number, taken atomically: starts run at once
    try:
        os.close(os.open(os.path.join(starts, str(n)), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        n += 1
if int(fail_at) and n == int(fail_at):
    sys.stderr.write("Fatal error: out of memory\\n")
    sys.exit(2)
p = subprocess.run([exe, *sys.argv[4:]])
sys.exit(p.returncode)
"""


def counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int = 0) -> Path:
    starts = tmp_path / "starts"
    wrap_semgrep(tmp_path, monkeypatch, WRAPPER, starts, fail_at)
    return starts


def streamed(monkeypatch: pytest.MonkeyPatch, flush_bytes: int) -> None:
    """Stream from the first head on, a batch every ``flush_bytes``."""
    monkeypatch.setattr(check, "FLUSH_BYTES", flush_bytes)
    monkeypatch.setattr(pipeline, "FLUSH_BYTES", flush_bytes)


def change(repo: Repo, n: int = 12) -> None:
    """A change of n files, one payload each, plus a harmless edit of two."""
    for i in range(n):
        repo.write(
            f"lib/m{i:02d}.py",
            f"import os\n\n\ndef f{i}(x):\n    # step {i}\n    return os.system(x)\n",
        )
    repo.write("lib/util.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)  # same\n")
    repo.write("lib/io.py", "from safeio import load\n\n\ndef read(fh):\n    return load(fh)\n\n")
    repo.commit("payloads", who="mallory")


def decision(doc: dict[str, Any]) -> tuple[str, list[tuple[str, str, int | None]], list[str]]:
    return doc["decision"], sorted(found(doc)), doc["errors"]


def test_an_open_gate_waits_for_batches_until_closed() -> None:
    gate = MemoryGate([], lambda b: 1.0, closed=False)
    got: list[list[str] | None] = []

    def worker() -> None:
        while (b := gate.take()) is not None:
            got.append(b)
            gate.release(b)
        got.append(None)

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.05)
    assert got == []  # nothing pending yet, but not closed: it waits
    gate.extend([["a.py"], ["b.py"]])
    gate.close()
    t.join(5)
    assert got == [["a.py"], ["b.py"], None]
    with pytest.raises(AssertionError):
        gate.extend([["c.py"]])


def test_a_streamed_change_decides_as_one_batched_run(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change(srepo)
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "whole"))
    streamed(monkeypatch, 10**9)  # never streams
    whole = run_json(srepo, capsys)
    starts = counting(tmp_path, monkeypatch)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "stream"))
    streamed(monkeypatch, 150)  # about two files a batch
    code, doc = run_json(srepo, capsys)
    assert (code, decision(doc)) == (whole[0], decision(whole[1]))
    assert code == 1 and len(found(doc)) == 12
    # The heads went as several batches, then the bases that could matter.
    assert len(list(starts.iterdir())) > 4


def test_a_head_the_stream_never_scans_fails_the_run(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attacker's hope: a batch lost between cutting and scanning passes."""
    change(srepo)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    streamed(monkeypatch, 150)
    drop_first_batch(monkeypatch)
    code, doc = run_json(srepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert re.search(r"semgrep was not run on [1-9]\d* of the files", doc["errors"][0])


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_failing_batch_fails_the_run_and_leaves_no_temp_tree(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_at: int,
) -> None:
    change(srepo)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    streamed(monkeypatch, 150)
    counting(tmp_path, monkeypatch, fail_at=fail_at)
    code, doc = run_json(srepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert "semgrep exited with code 2" in doc["errors"][0]
    assert list((tmp_path / "tmp").glob("traingate-scan-*")) == []  # the stream's tree


def test_a_warm_recheck_starts_no_semgrep(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change(srepo)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    streamed(monkeypatch, 150)
    first = run_json(srepo, capsys)
    starts = counting(tmp_path, monkeypatch)
    second = run_json(srepo, capsys)
    assert decision(second[1]) == decision(first[1]) and second[0] == 1
    assert not starts.exists()
