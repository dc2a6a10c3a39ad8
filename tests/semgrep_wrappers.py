"""Test scaffolding shared by the semgrep scheduling tests: a script that stands
in front of the real semgrep (never instead of it), and a gate that loses a batch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from traingate.checks.semgrep import runner, schedule


def wrap_semgrep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, *args: object
) -> None:
    """TRAINGATE_SEMGREP runs ``script`` with ``args`` and then the real semgrep's
    path and its arguments (the script decides how to call it)."""
    code, exe = tmp_path / "wrap.py", tmp_path / "semgrep"
    code.write_text(script)
    shown = " ".join(f'"{a}"' for a in args)
    exe.write_text(
        f'#!/bin/sh\nexec {sys.executable} {code} {shown} {runner.semgrep_executable()} "$@"\n'
    )
    exe.chmod(0o755)
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(exe))


def drop_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory gate hands out its first batch to nobody: a scheduler bug
    that must fail the run, never pass the batch's files."""
    real_take = schedule.MemoryGate.take
    handed: list[int] = []

    def lossy(self: schedule.MemoryGate) -> list[str] | None:
        batch = real_take(self)
        handed.append(1)
        if batch is not None and len(handed) == 1:
            self.release(batch)  # dropped on the floor
            batch = real_take(self)
        return batch

    monkeypatch.setattr(schedule.MemoryGate, "take", lossy)
