"""The memory gate that starts semgrep batches (issue #17): no CPU idles while
a pending batch fits, the estimates of running batches never exceed the
budget unless one batch alone does, and a failure stops new starts."""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from pathlib import Path

import pytest

from traingate.checks.semgrep import runner
from traingate.checks.semgrep.schedule import MEMORY_BUDGET_MB, MemoryGate, estimate_mb

from .conftest import Repo
from .semgrep_wrappers import drop_first_batch, wrap_semgrep
from .test_semgrep_check import run_json, srepo  # noqa: F401  (fixture)

BIG, SMALL = 280_000, 30_000  # bytes of a batch's largest file


def gate_for(largest: list[int], budget: float = MEMORY_BUDGET_MB) -> MemoryGate:
    batches = [[f"t{i}.py"] for i in range(len(largest))]
    size = {b[0]: n for b, n in zip(batches, largest, strict=True)}
    return MemoryGate(batches, lambda b: estimate_mb(size[b[0]]), budget)


def test_the_largest_files_do_not_run_together_and_the_other_cpu_takes_a_small_batch() -> None:
    assert 2 * estimate_mb(BIG) > MEMORY_BUDGET_MB >= estimate_mb(BIG) + estimate_mb(SMALL)
    gate = gate_for([BIG, BIG, SMALL, SMALL])
    first = gate.take()
    second = gate.take()  # the second big batch does not fit beside the first
    assert (first, second) == (["t0.py"], ["t2.py"])
    assert first is not None
    gate.release(first)
    assert gate.take() == ["t1.py"]  # now it fits beside the small one


def test_a_batch_over_the_budget_still_runs_alone() -> None:
    gate = gate_for([BIG, BIG], budget=10)
    b = gate.take()
    assert b == ["t0.py"]
    got: list[list[str] | None] = []
    t = threading.Thread(target=lambda: got.append(gate.take()))
    t.start()
    time.sleep(0.05)
    assert not got  # waits while the first runs
    gate.release(b)
    t.join(5)
    assert got == [["t1.py"]]
    assert gate.take() is None


def test_cancel_wakes_waiting_workers_and_starts_nothing_more() -> None:
    gate = gate_for([BIG, BIG, BIG])
    gate.take()
    got: list[list[str] | None] = []
    t = threading.Thread(target=lambda: got.append(gate.take()))
    t.start()
    time.sleep(0.05)
    gate.cancel()
    t.join(5)
    assert got == [None]
    assert gate.take() is None


def test_threads_hold_every_batch_once_and_stay_under_the_budget() -> None:
    rnd = random.Random(5)
    size = {f"t{i}.py": rnd.choice([200, 5_000, 40_000, 120_000, BIG]) for i in range(300)}
    batches = runner.plan_batches(size, 2, runner.SCAN_BATCH_BYTES)
    gate = MemoryGate(batches, lambda b: estimate_mb(size[b[0]]))
    done: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (b := gate.take()) is not None:
            time.sleep(rnd.random() / 500)
            with lock:
                done.extend(b)
            gate.release(b)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(done) == sorted(size)
    assert 0 < gate.peak <= MEMORY_BUDGET_MB


def test_a_batch_the_gate_never_hands_out_fails_the_run(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scheduler that loses a batch must not turn its files into a pass."""
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    drop_first_batch(monkeypatch)
    for i in range(4):
        srepo.write(f"lib/m{i}.py", f"import os\n\n\ndef f{i}(x):\n    return os.system(x)\n")
    srepo.commit("payloads", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert re.search(r"semgrep was not run on [1-9]\d* of the files", doc["errors"][0])


def test_a_measured_peak_over_its_estimate_scales_every_later_estimate() -> None:
    """Another semgrep release, or a costlier rule, moves the fitted model:
    the gate believes the processes it ran over its own formula."""
    gate = gate_for([SMALL, SMALL, SMALL])
    first, second = gate.take(), gate.take()  # two small ones fit together
    assert first is not None and second is not None
    gate.release(first, measured_mb=2.5 * estimate_mb(SMALL))
    assert gate.scale == pytest.approx(2.5)
    got: list[list[str] | None] = []
    t = threading.Thread(target=lambda: got.append(gate.take()))
    t.start()
    time.sleep(0.05)
    assert not got  # 2 x 2.5 estimates no longer fit in the budget
    gate.release(second, measured_mb=10.0)  # a peak under its estimate never scales down
    t.join(5)
    assert got == [["t2.py"]] and gate.scale == pytest.approx(2.5)


def test_a_peak_within_the_models_own_error_changes_nothing() -> None:
    gate = gate_for([SMALL, SMALL])
    first = gate.take()
    assert first is not None
    gate.release(first, measured_mb=1.3 * estimate_mb(SMALL))  # as measured on the corpus
    assert gate.scale == 1.0


# Touches MB megabytes in the process traingate waits for (its measured peak),
# then runs the real semgrep in a child, noting when it started and ended.
HEAVY = """\
import os, sys, time
log, mb, exe = sys.argv[1:4]
with open(log, "a") as fh:
    fh.write(f"start {os.getpid()} {time.monotonic()}\\n")
ballast = bytearray(int(mb) * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
del ballast
pid = os.fork()
if pid:
    _, status = os.waitpid(pid, 0)
    with open(log, "a") as fh:
        fh.write(f"end {os.getpid()} {time.monotonic()}\\n")
    os._exit(os.waitstatus_to_exitcode(status))
os.execv(exe, [exe, *sys.argv[4:]])
"""


def test_the_gate_learns_from_real_peaks_and_stops_running_heavy_batches_together(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Processes that peak far above the model: once one has been measured,
    no two batches run at once, and the decision is unchanged."""
    log = tmp_path / "log"
    wrap_semgrep(tmp_path, monkeypatch, HEAVY, log, 300)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    monkeypatch.setattr(runner, "usable_cpus", lambda *a: 2)
    monkeypatch.setattr(runner, "BATCH_FILES", 1)  # a batch per file
    for i in range(8):
        srepo.write(f"lib/m{i}.py", f"import os\n\n\ndef f{i}(x):\n    return os.system(x)\n")
    srepo.commit("payloads", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1 and not doc["errors"]
    spans: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        _, pid, at = line.split()
        spans.setdefault(pid, []).append(float(at))
    runs = sorted((s[0], s[1]) for s in spans.values() if len(s) == 2)
    assert len(runs) >= 4
    first_end = min(end for _, end in runs)
    later = [r for r in runs if r[0] >= first_end]
    assert later  # batches started after the first measurement ...
    for a, b in itertools.pairwise(later):
        assert b[0] >= a[1]  # ... ran one at a time
