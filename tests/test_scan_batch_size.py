"""A scan's semgrep batches are large, its first and last ones are not (issue #17).

Each semgrep process pays ~0.45 CPU s to start and load the pack, so a scan
runs 1.5 MB batches (runner.SCAN_BATCH_BYTES, from 0.5 MB). Two places would
idle a CPU for a whole batch: the first batch waiting for 1.5 MB of screened
heads, and a remainder under 1.5 MB run as one process at the end. Both use
FLUSH_BYTES instead. Real semgrep on a small pack of its own; the batches are
read from the memory gate, the only way a batch reaches a process.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from traingate.checks.semgrep import pipeline, runner, schedule
from traingate.checks.semgrep.targets import Target
from traingate.errors import CheckError

from .semgrep_wrappers import wrap_semgrep
from .test_semgrep_pipeline import WRAPPER
from .test_semgrep_screen_runner import ALL, engine, pack, rules, target


def stream_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ts: list[Target], flush_bytes: int
) -> tuple[dict[str, set[str]], list[list[str]], list[tuple[float, int]]]:
    """Each target's rules hit, the batches in the order they were taken, and
    (when, how many targets were added by then) for each batch taken."""
    taken: list[list[str]] = []
    when: list[tuple[float, int]] = []
    added = [0]
    real_take = schedule.MemoryGate.take

    def take(self: schedule.MemoryGate) -> list[str] | None:
        batch = real_take(self)
        if batch is not None:
            taken.append(batch)
            when.append((time.monotonic(), added[0]))
        return batch

    monkeypatch.setattr(schedule.MemoryGate, "take", take)
    monkeypatch.setattr(pipeline, "usable_cpus", lambda: 2)
    with pipeline.HeadStream(engine(pack(tmp_path)), flush_bytes) as stream:
        for t in ts:
            stream.add(t)
            added[0] += 1
            time.sleep(0.05)  # screening takes time: a started batch shows before the end
        hits = stream.close()
    return {t.key: rules(hits, t) for t in ts}, taken, when


def test_the_first_batch_starts_at_flush_bytes_and_the_remainder_is_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "FLUSH_BYTES", 100)
    ts = [target(ALL + f"x = {i}\n") for i in range(12)]  # ~40 bytes each
    found, taken, when = stream_batches(tmp_path, monkeypatch, ts, 10**9)
    assert all(found[t.key] == {"scr-a", "open-c"} for t in ts)
    # Old code: one batch of all twelve, taken after the last add.
    assert len(taken[0]) == 3 and when[0][1] < len(ts)
    # Then nothing fills a scan batch: the nine left are split over both CPUs.
    assert sorted(len(b) for b in taken[1:]) == [4, 5]
    assert sorted(n for b in taken for n in b) == sorted({n for b in taken for n in b})


def test_past_the_first_batch_the_stream_fills_whole_scan_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "FLUSH_BYTES", 100)
    ts = [target(ALL + f"x = {i}\n") for i in range(12)]
    found, taken, _ = stream_batches(tmp_path, monkeypatch, ts, 200)
    assert all(found[t.key] == {"scr-a", "open-c"} for t in ts)
    # 3 targets (>= 100 bytes), then 5s (>= 200 bytes); the 4 left split in two.
    assert [len(b) for b in taken[:2]] == [3, 5]
    assert sorted(len(b) for b in taken[2:]) == [2, 2]


def test_a_small_remainder_stays_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "FLUSH_BYTES", 10**9)
    ts = [target(ALL + f"x = {i}\n") for i in range(4)]
    found, taken, _ = stream_batches(tmp_path, monkeypatch, ts, 10**9)
    assert all(found[t.key] == {"scr-a", "open-c"} for t in ts)
    assert [len(b) for b in taken] == [4]


def test_a_failing_scan_batch_fails_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker's hope: with fewer, larger batches, one crashed process
    takes more files with it, and they must not pass."""
    monkeypatch.setattr(pipeline, "FLUSH_BYTES", 100)
    wrap_semgrep(tmp_path, monkeypatch, WRAPPER, tmp_path / "starts", 2)
    ts = [target(ALL + f"x = {i}\n") for i in range(12)]
    with pytest.raises(CheckError, match="semgrep exited with code 2"):
        stream_batches(tmp_path, monkeypatch, ts, 10**9)


def test_scan_batches_are_larger_than_the_first_flush() -> None:
    assert runner.SCAN_BATCH_BYTES >= 3 * pipeline.FLUSH_BYTES
