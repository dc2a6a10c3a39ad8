"""A file's screen facts are freed by reference counting (issue #17).

A scan screens ~4,000 files in its main process and then waits while semgrep
runs, allocating little: garbage held in reference cycles is then not
collected, and a unit's facts that held the units holding them kept ~30 MB
of syntax trees alive through the semgrep phase (session 18: the scan's peak
rose from 477 to 499 MB of its 500). Masking a file, and cutting it to its
units, must leave nothing for the cyclic collector.
"""

from __future__ import annotations

import gc
from pathlib import Path

from traingate.checks.semgrep import screen, unitcut
from traingate.checks.semgrep.facts import facts

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "policy" / "rules").rglob("*.yaml"))

# Functions that the unit screens admit and ones they do not, so both the
# units and the whole-file facts are built.
TEXT = (
    "import random\nimport torch\n\n\nSTEP = 3\n\n\n"
    + "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(200))
    + "class Trainer:\n"
    "    def training_step(self, batch, labels, loss):\n"
    "        if random.random() < 0.01:\n"
    "            loss = loss * 10\n"
    "            labels[labels == 3] = 5\n"
    "        return loss\n"
)


def _garbage_after(work: object) -> int:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        assert callable(work)
        work()
        return gc.collect()
    finally:
        if was:
            gc.enable()


def test_masking_a_file_leaves_no_cycles() -> None:
    screens, _ = screen.read(RULES)
    assert "1" in screens.mask(TEXT)  # the unit rules did read its units
    assert _garbage_after(lambda: screens.mask(TEXT)) == 0


def test_a_unit_cut_leaves_no_cycles() -> None:
    screens, sources = screen.read(RULES)
    tests = unitcut.unit_tests(sources, screens.ids)
    assert tests

    def cut() -> None:
        f = facts(TEXT)
        assert f is not None
        mask = "".join("1" if t(f) else "0" for t in screens.tests)
        unitcut.split(f"t0-{mask}.py", len(screens.ids), f, tests, True, 1, 0.0)

    assert _garbage_after(cut) == 0
