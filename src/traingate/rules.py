"""``traingate rules test``: semgrep's own rule tests over rule packs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from traingate.errors import ExitCode, UsageError


def test_rules(dirs: Sequence[str], *, builtin: bool = True) -> int:
    from traingate.checks.semgrep.runner import semgrep_executable
    from traingate.policy.load import data_dir

    targets = ([data_dir() / "rules"] if builtin else []) + [Path(d) for d in dirs]
    if not targets:
        raise UsageError("no rule directories to test", help="name a DIR or drop --no-builtin")
    exe = semgrep_executable()
    env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
    worst = ExitCode.PASS
    for d in targets:
        if not d.is_dir():
            raise UsageError(f"{d}: not a directory")
        files = sum(1 for _ in d.rglob("*.y*ml"))
        for flag in ("--validate", "--test"):
            started = time.monotonic()
            _progress(f"{d}: {flag[2:]}: running semgrep on {files} rule files ...")
            ok, summary = _run(exe, flag, d, env)
            _progress(f"{d}: {flag[2:]}: done in {time.monotonic() - started:.0f} s")
            print(f"{d}: {flag[2:]}: {summary}", flush=True)
            if not ok:
                worst = ExitCode.BLOCKED
    sys.stdout.flush()
    return int(worst)


def _progress(line: str) -> None:
    """A long run says what it is doing (issue #18: `rules test` printed nothing
    for a minute): on a terminal, or in CI with TRAINGATE_PROGRESS=1; never on
    stdout, which carries the results."""
    flag = os.environ.get("TRAINGATE_PROGRESS", "")
    if flag == "1" or (flag != "0" and sys.stderr.isatty()):
        print(line, file=sys.stderr, flush=True)


def _run(exe: str, flag: str, d: Path, env: dict[str, str]) -> tuple[bool, str]:
    common = ["--metrics=off", "--disable-version-check", "--json"]
    if flag == "--test":
        cmd = [exe, "--test", *common, str(d)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        return _summarize(flag, proc)
    # `semgrep --validate` downloads a lint pack from the registry; loading the
    # rules against an empty target validates them offline (principle 4).
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.py"
        empty.write_text("")
        cmd = [exe, "scan", *common, f"--config={d}", str(empty)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=tmp)
    return _summarize(flag, proc)


def _summarize(flag: str, proc: subprocess.CompletedProcess[str]) -> tuple[bool, str]:
    if flag == "--validate":
        try:
            errors = json.loads(proc.stdout).get("errors", [])
        except ValueError:
            errors = [proc.stderr.strip()[-2000:]]
        ok = proc.returncode == 0 and not errors
        return ok, "ok" if ok else json.dumps(errors)[:2000]
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return (
            False,
            f"semgrep --test failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}",
        )
    failed = []
    total = 0
    for rule_file, res in data.get("results", {}).items():
        for check_id, check in res.get("checks", {}).items():
            total += 1
            if not check.get("passed", False):
                m = check.get("matches", {})
                failed.append(f"  {check_id} ({rule_file}): {json.dumps(m)[:400]}")
    for err in data.get("config_with_errors") or []:
        failed.append(f"  rule file with errors: {json.dumps(err)[:400]}")
    for missing in data.get("config_missing_tests") or []:
        failed.append(f"  rule file without a test file: {missing}")
    ok = proc.returncode == 0 and not failed
    return ok, (f"{total} rules passed" if ok else f"{len(failed)} failing:\n" + "\n".join(failed))
