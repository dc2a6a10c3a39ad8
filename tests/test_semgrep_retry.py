"""A semgrep time or memory limit hit on a loaded machine blocks the check
but is not cached (issue #17): the next check of the same blob runs semgrep
again instead of blocking forever on the cached error. A parse error is a
property of the blob and stays cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Repo
from .semgrep_wrappers import wrap_semgrep
from .test_semgrep_check import found, run_json, srepo  # noqa: F401  (fixture)

# Runs the real semgrep; while the flag file exists, adds one error of KIND to
# every file it scanned, as semgrep reports a rule's timeout, and drops the flag.
WRAPPER = """\
import json, os, subprocess, sys
flag, kind, starts, exe = sys.argv[1:5]
with open(starts, "a") as fh:
    fh.write("x\\n")
p = subprocess.run([exe, *sys.argv[5:]], capture_output=True)
out = p.stdout
if os.path.exists(flag):
    os.remove(flag)
    doc = json.loads(out)
    doc["errors"] += [
        {"type": [kind], "path": path, "rule_id": "sec.rules.t-os-system", "message": "Timeout",
         "level": "warn", "spans": [{"start": {"line": 1, "col": 1}, "end": {"line": 1, "col": 2}}]}
        for path in doc["paths"]["scanned"]
    ]
    out = json.dumps(doc).encode()
sys.stdout.buffer.write(out)
sys.exit(p.returncode)
"""


def wrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> tuple[Path, Path]:
    flag, starts = tmp_path / "flag", tmp_path / "starts"
    wrap_semgrep(tmp_path, monkeypatch, WRAPPER, flag, kind, starts)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cache"))
    flag.write_text("")
    return flag, starts


def test_a_timeout_blocks_once_and_the_next_check_runs_semgrep_again(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, starts = wrap(tmp_path, monkeypatch, "Timeout")
    srepo.write("lib/extra.py", "def g(x):\n    return x * 2\n")
    srepo.commit("plain", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    assert ("semgrep-incomplete", "lib/extra.py", 1) in found(doc)
    n = len(starts.read_text().splitlines())
    code, doc = run_json(srepo, capsys)
    assert len(starts.read_text().splitlines()) > n  # not answered from the cache
    assert code == 0, doc["findings"]
    # ... and the clean answer is cached: a third check starts no semgrep.
    n = len(starts.read_text().splitlines())
    assert run_json(srepo, capsys)[0] == 0
    assert len(starts.read_text().splitlines()) == n


def test_a_parse_error_stays_cached(
    srepo: Repo,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, starts = wrap(tmp_path, monkeypatch, "Syntax error")
    srepo.write("lib/extra.py", "def g(x):\n    return x * 2\n")
    srepo.commit("plain", who="mallory")
    assert run_json(srepo, capsys)[0] == 1
    n = len(starts.read_text().splitlines())
    code, doc = run_json(srepo, capsys)
    assert code == 1 and ("semgrep-parse-error", "lib/extra.py", 1) in found(doc)
    assert len(starts.read_text().splitlines()) == n
