"""The semgrep check with real semgrep: diff awareness, suppression, parse errors, cache.

These tests use a small rule dir committed in the test repo (the pack itself is
tested in test_rules_pack.py), so each test states exactly what must fire.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.semgrep import newness, runner
from traingate.cli import main

from .conftest import Repo

RULES = """\
rules:
  - id: t-os-system
    languages: [python]
    severity: ERROR
    message: os.system runs a shell command
    metadata: {category: code-execution}
    pattern: os.system(...)
  - id: t-pickle-load
    languages: [python]
    severity: ERROR
    message: pickle.load runs code from the file
    metadata: {category: unsafe-deserialization}
    pattern: pickle.load(...)
  - id: t-print-warning
    languages: [python]
    severity: WARNING
    message: print in training code
    pattern: print(...)
"""

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
checks:
  semgrep:
    builtin_rules: false
    rule_dirs: [sec/rules]
"""


@pytest.fixture
def srepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY)
    repo.write("sec/rules/r.yaml", RULES)
    repo.write("lib/util.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n")
    repo.write("lib/io.py", "from safeio import load\n\n\ndef read(fh):\n    return load(fh)\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def run_json(
    repo: Repo, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "feature",
            "--format",
            "json",
            *extra,
        ]
    )
    out = capsys.readouterr().out
    return code, json.loads(out)


def found(doc: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(f["rule_id"], f["path"], f["line"]) for f in doc["findings"]]


def test_new_finding_requires_security_approval(
    srepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    srepo.write("tools/run.py", "import os as o\n\no.system('curl x | sh')\n")
    srepo.commit("add", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    assert found(doc) == [("t-os-system", "tools/run.py", 3)]
    f = doc["findings"][0]
    assert (f["outcome"], f["approval_group"], f["blocking"], f["category"]) == (
        "require_approval",
        "security",
        True,
        "code-execution",
    )
    req = next(r for r in doc["requirements"] if r["name"] == "findings:security")
    assert req["reasons"] == ["t-os-system at tools/run.py:3"] and req["eligible"] == ["sam"]


@pytest.fixture
def two_runs_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cold cache, bases always in a second run, and the real semgrep behind a
    wrapper that logs each start's arguments: the log's path."""
    log = tmp_path / "semgrep.log"
    wrapper = tmp_path / "semgrep"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {runner.semgrep_executable()} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(newness, "SECOND_RUN_FILES", 0)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(wrapper))
    return log


@pytest.fixture(params=["one-run", "two-runs", "batched"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Base versions ride along in one semgrep run, or (large changes) go to a
    second run that takes only the bases a head hit can be in, or every run is
    split into one-job batches (issue #17): same answers."""
    if request.param == "two-runs":
        monkeypatch.setattr(newness, "SECOND_RUN_FILES", 0)
    if request.param == "batched":
        monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    return str(request.param)


@pytest.mark.usefixtures("strategy")
def test_old_findings_on_untouched_code_do_not_count(
    srepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    srepo.write("lib/util.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n\n\nX = 1\n")
    srepo.commit("edit elsewhere", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert found(doc) == [] and code == 0


@pytest.mark.usefixtures("strategy")
def test_editing_an_import_turns_an_old_line_malicious(
    srepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    srepo.write("lib/io.py", "from pickle import load\n\n\ndef read(fh):\n    return load(fh)\n")
    srepo.commit("swap import", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    assert found(doc) == [("t-pickle-load", "lib/io.py", 5)]  # line 5 itself is unchanged


def test_nosemgrep_hides_nothing(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    srepo.write("tests/conftest.py", "import os\nos.system('id')  # nosemgrep\n")
    srepo.commit("hide", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    assert found(doc) == [
        ("t-os-system", "tests/conftest.py", 2),
        ("suppress-nosemgrep", "tests/conftest.py", 2),
    ]


def test_semgrepignore_in_the_change_does_not_apply(
    srepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    srepo.write(".semgrepignore", "tools/\n")
    srepo.write("tools/run.py", "import os\nos.system('id')\n")
    srepo.commit("ignore", who="mallory")
    _code, doc = run_json(srepo, capsys)
    assert ("t-os-system", "tools/run.py", 2) in found(doc)
    assert ("suppress-ignore-file", ".semgrepignore", None) in found(doc)


def test_unparseable_file_blocks(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    srepo.write("train_loop.py", "print 'python 2'\nexec code in ns\n")
    srepo.write("data/broken.py", "import os\n\ndef f(:\n    os.system('x')\n")
    srepo.write("data/partial.py", "import os\nos.system(\n")
    srepo.commit("py2", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    got = {(f["rule_id"], f["path"], f["line"]): f for f in doc["findings"]}
    assert ("python-syntax-error", "train_loop.py", 1) in got  # semgrep itself accepts py2 prints
    assert ("python-syntax-error", "data/broken.py", 3) in got
    assert ("t-os-system", "data/broken.py", 4) in got  # semgrep recovers and still matches
    # one parse error per file: CPython's names the line (issue #16)
    assert {k[0] for k in got if k[1] == "data/partial.py"} == {"python-syntax-error"}
    assert all(f["blocking"] for k, f in got.items() if k[0].endswith("error"))


def test_notebook_and_pth_are_scanned(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# title\n"]},
            {"cell_type": "code", "source": ["import os\n", "os.system('id')\n"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    srepo.write("explore.ipynb", json.dumps(nb, indent=1))
    srepo.write("evil.pth", "/tmp/somewhere\nimport os; os.system('id')\n")
    srepo.commit("nb", who="mallory")
    _, doc = run_json(srepo, capsys)
    raw_line = json.dumps(nb, indent=1).splitlines().index("    \"os.system('id')\\n\"") + 1
    assert ("t-os-system", "explore.ipynb", raw_line) in found(doc)
    assert ("t-os-system", "evil.pth", 2) in found(doc)


def test_rules_come_from_the_base(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    srepo.write("sec/rules/r.yaml", "rules: []\n")
    srepo.write("tools/run.py", "import os\nos.system('id')\n")
    srepo.commit("drop rules", who="mallory")
    _, doc = run_json(srepo, capsys)
    assert ("t-os-system", "tools/run.py", 2) in found(doc)


def test_warm_cache_starts_no_semgrep(
    srepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "own-cache"))
    srepo.write("tools/run.py", "import os\nos.system('id')\nprint(1)\n")
    srepo.commit("add", who="mallory")
    _, first = run_json(srepo, capsys)
    # A semgrep that cannot start: any cache miss would now be an error (exit 3).
    broken = tmp_path / "no-semgrep"
    broken.write_text("#!/bin/sh\nexit 99\n")
    broken.chmod(0o755)
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(broken))
    code, second = run_json(srepo, capsys)
    assert second["errors"] == [] and found(second) == found(first)
    # and a cold cache with that semgrep fails closed
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    code, third = run_json(srepo, capsys)
    assert code == 3 and third["decision"] == "block"
    assert "semgrep exited with code 99" in third["errors"][0]


def test_corrupt_cache_entry_is_a_miss(
    srepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "own-cache"))
    srepo.write("tools/run.py", "import os\nos.system('id')\n")
    srepo.commit("add", who="mallory")
    run_json(srepo, capsys)
    cache = Path(os.environ["TRAINGATE_CACHE_DIR"])
    entries = list(cache.rglob("*.json"))
    assert entries
    for e in entries:
        e.write_text('{"key": "x", "hits": [')
    _code, doc = run_json(srepo, capsys)
    assert ("t-os-system", "tools/run.py", 2) in found(doc)


def test_scan_reports_everything(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    policy = srepo.path / ".traingate.yaml"
    os.chdir(srepo.path)
    code = main(["scan", "lib", "--policy", str(policy), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert found(doc) == [("t-os-system", "lib/util.py", 5)]
    assert doc["requirements"] == []


def test_nul_bytes_and_invalid_utf8_in_source_block(
    srepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    srepo.write("train_nul.py", b"import os\nos.system('id')\x00\n")
    srepo.write("train_latin.py", b"x = '\xe9t\xe9'\nimport os\nos.system('id')\n")
    srepo.commit("odd bytes", who="mallory")
    code, doc = run_json(srepo, capsys)
    got = found(doc)
    assert code == 1
    assert ("source-unreadable", "train_nul.py", 1) in got
    assert ("t-os-system", "train_nul.py", 2) in got  # still scanned without the NULs
    assert ("source-unreadable", "train_latin.py", 1) in got
    assert ("t-os-system", "train_latin.py", 3) in got


def test_an_invalid_rule_in_the_trusted_base_names_the_rule(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(".traingate.yaml", POLICY)
    repo.write(
        "sec/rules/r.yaml",
        "rules:\n  - id: broken\n    languages: [python]\n    severity: ERROR\n"
        "    message: m\n    pattern-eithr: [{pattern: x}]\n",
    )
    repo.commit("base")
    repo.branch("feature")
    repo.write("lib/new.py", "x = 1\n")
    repo.commit("add", who="mallory")
    code, doc = run_json(repo, capsys)
    assert code == 3 and doc["decision"] == "block"
    [error] = doc["errors"]
    assert "semgrep exited with code 7" in error and "r.yaml" in error, error


def keep_one_hit_add_another(srepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """util.py keeps its old os.system line (its code is in the base text);
    io.py gains a pickle load its base lacks: only that one is new."""
    srepo.write("lib/util.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n\n\nX = 1\n")
    srepo.write("lib/io.py", "import pickle\n\n\ndef read(fh):\n    return pickle.load(fh)\n")
    srepo.commit("edit", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 1
    assert found(doc) == [("t-pickle-load", "lib/io.py", 5)]


def py_targets_per_run(log: Path) -> list[int]:
    return [
        len([a for a in ln.split() if a.endswith(".py")]) for ln in log.read_text().splitlines()
    ]


def test_second_run_takes_only_bases_that_can_hold_a_head_hit(
    srepo: Repo, capsys: pytest.CaptureFixture[str], two_runs_logged: Path
) -> None:
    log = two_runs_logged
    srepo.write("lib/clean.py", "Y = 3\n")  # no hit at all
    keep_one_hit_add_another(srepo, capsys)
    # heads of util, io and the new clean.py; then only util's base, which has
    # the hit's code (io's base lacks `pickle.load(fh)`, clean.py has no base)
    assert py_targets_per_run(log) == [3, 1]


def test_second_run_skips_bases_the_cache_already_answers(
    srepo: Repo, capsys: pytest.CaptureFixture[str], two_runs_logged: Path
) -> None:
    log = two_runs_logged
    # An earlier check saw util.py's base content as a new file: it is cached.
    srepo.git("checkout", "-q", "-b", "prime", "main")
    srepo.write("lib/copy.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n")
    srepo.commit("copy", who="mallory")
    run_json(srepo, capsys, "--head", "prime")
    log.write_text("")
    srepo.checkout("feature")
    keep_one_hit_add_another(srepo, capsys)
    # one run for the two heads; util's base (which holds the head hit's code)
    # comes from the cache instead of a second run
    assert py_targets_per_run(log) == [2]


def test_a_warm_recheck_needs_no_second_run_either(
    srepo: Repo, capsys: pytest.CaptureFixture[str], two_runs_logged: Path
) -> None:
    """The bases' partial answer (a few rules) is cached under those rules: a
    re-check of the same change starts no semgrep, and finds the same."""
    log = two_runs_logged
    keep_one_hit_add_another(srepo, capsys)
    assert py_targets_per_run(log) == [2, 1]
    log.write_text("")
    keep = run_json(srepo, capsys)
    assert keep[0] == 1 and found(keep[1]) == [("t-pickle-load", "lib/io.py", 5)]
    assert log.read_text() == ""


def test_second_run_loads_only_the_rules_of_the_shared_hits(
    repo: Repo, capsys: pytest.CaptureFixture[str], two_runs_logged: Path
) -> None:
    from .conftest import POLICY as DEFAULT_POLICY

    log = two_runs_logged
    repo.write(".traingate.yaml", DEFAULT_POLICY)
    repo.write("tools/run.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n")
    repo.commit("base")
    repo.branch("feature")
    repo.write("tools/run.py", "import os\n\n\ndef f(cmd):\n    return os.system(cmd)\n\n\nX = 1\n")
    repo.commit("edit", who="mallory")
    _, doc = run_json(repo, capsys)
    assert found(doc) == [] and doc["errors"] == []
    first, second = [line.split() for line in log.read_text().splitlines()]
    # The whole pack, as its screened copy (screen.py) in the run's temp dir.
    (whole,) = [Path(a.split("=", 1)[1]) for a in first if a.startswith("--config=")]
    assert whole.name.startswith("rules-")
    configs = [Path(a.split("=", 1)[1]).name for a in second if a.startswith("--config=")]
    assert configs == ["exec-os-command.yaml"]


@pytest.mark.parametrize(
    ("cpu_max", "cap"),
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1)],
)
def test_semgrep_jobs_follow_the_cgroup_cpu_quota(
    tmp_path: Path, cpu_max: str, cap: int | None
) -> None:
    cpus = len(os.sched_getaffinity(0))
    f = tmp_path / "cpu.max"
    f.write_text(cpu_max)
    assert runner.usable_cpus(f) == (cpus if cap is None else min(cpus, cap))
    assert runner.usable_cpus(tmp_path / "absent") == cpus
    f.write_text("garbage")
    assert runner.usable_cpus(f) == cpus


@pytest.mark.parametrize("cpus", [1, 2, 3])
def test_batches_hold_each_file_once_about_equal_largest_first(cpus: int) -> None:
    import random

    rnd = random.Random(17)
    size = {f"t{i}.py": rnd.choice([200, 5_000, 40_000, 300_000]) for i in range(150)}
    batches = runner.plan_batches(size, cpus)
    assert sorted(n for b in batches for n in b) == sorted(size)
    assert len(batches) % cpus == 0 and len(batches) >= cpus
    held = [sum(size[n] for n in b) for b in batches]
    assert held == sorted(held, reverse=True)
    # Longest-processing-time first: no batch is a whole file heavier than another.
    assert held[0] - held[-1] <= max(size.values())
    assert max(held) <= runner.BATCH_BYTES + max(size.values())
    assert all(size[b[0]] == max(size[n] for n in b) for b in batches)
    assert runner.plan_batches({}, cpus) == []
    assert runner.plan_batches({"t0.py": 10}, cpus) == [["t0.py"]]


def test_a_failing_batch_fails_the_run(
    srepo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch's semgrep dies: the whole check is an error (exit 3), even
    though the other batches found nothing wrong."""
    monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    monkeypatch.setenv("TRAINGATE_CACHE_DIR", str(tmp_path / "cold"))
    count = tmp_path / "starts"
    wrapper = tmp_path / "semgrep"
    wrapper.write_text(
        f"#!/bin/sh\necho x >> {count}\n"
        f'[ "$(wc -l < {count})" -eq 2 ] && exit 9\n'
        f'exec {runner.semgrep_executable()} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("TRAINGATE_SEMGREP", str(wrapper))
    for i in range(4):
        srepo.write(f"lib/m{i}.py", f"def f{i}(x):\n    return x + {i}\n")
    srepo.commit("plain", who="mallory")
    code, doc = run_json(srepo, capsys)
    assert code == 3 and doc["decision"] == "block"
    assert "semgrep exited with code 9" in doc["errors"][0]
    assert len(count.read_text().splitlines()) >= 2
