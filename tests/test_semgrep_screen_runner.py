"""Screens in the runner (issue #17, screen.py): a screened rule runs only on
the targets whose mask admits it, a target no rule can match never reaches
semgrep, and every way a run is split (one process, batches, the stream, a
scan of the temp dir, a subset of the rules) keeps that. Each case runs the
real semgrep on a small pack of its own, so the shipped pack's screens do not
decide what these tests show."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from traingate.checks.semgrep import pipeline, runner
from traingate.checks.semgrep.hits import Hit
from traingate.checks.semgrep.rulepack import RulePack
from traingate.checks.semgrep.settings import SemgrepSettings
from traingate.checks.semgrep.targets import Target

from .semgrep_wrappers import wrap_semgrep
from .test_semgrep_pipeline import WRAPPER

RULE = """\
rules:
  - id: {id}
    languages: [python]
    severity: ERROR
    message: {id}
    pattern: {call}(...)
    metadata:
{screen}      category: test
"""


def pack(root: Path, *, open_rule: bool = True) -> Path:
    """scr-a screened on its callee; scr-b screened on a name no target has
    (narrower than its pattern on purpose: it shows where it did not run);
    open-c has no screen."""
    d = root / "pack"
    d.mkdir()
    rules = [
        ("scr-a", "danger_a", "      traingate-screen:\n        name: danger_a\n"),
        ("scr-b", "danger_b", "      traingate-screen:\n        name: never_named\n"),
    ]
    if open_rule:
        rules.append(("open-c", "danger_c", ""))
    for rule_id, call, screen in rules:
        (d / f"{rule_id}.yaml").write_text(RULE.format(id=rule_id, call=call, screen=screen))
    return d


def engine(d: Path, *extra: Path) -> runner.Engine:
    rp = RulePack(dirs=(d, *extra), digest="test", builtin=d)
    return runner.Engine(rp, SemgrepSettings(), None)


def target(text: str, ext: str = ".py") -> Target:
    oid = hashlib.sha1(text.encode()).hexdigest()
    return Target(oid, f"src/{oid[:6]}{ext}", ext, text)


def rules(hits: dict[str, list[Hit]], t: Target) -> set[str]:
    return {h.rule for h in hits[t.key]}


ALL = "danger_a(1)\ndanger_b(2)\ndanger_c(3)\n"


def test_a_screened_rule_runs_only_where_its_screen_holds(tmp_path: Path) -> None:
    t = target(ALL)
    hits = engine(pack(tmp_path)).scan([t])
    assert rules(hits, t) == {"scr-a", "open-c"}


@pytest.mark.parametrize("split", ["single", "batches", "scan-dir"])
def test_every_split_of_a_run_keeps_the_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: str
) -> None:
    if split == "batches":
        monkeypatch.setattr(runner, "SINGLE_RUN_BYTES", 0)
    if split == "scan-dir":  # past the argument list's limit semgrep scans "."
        monkeypatch.setattr(runner, "MAX_ARGV_NAMES", 0)
    ts = [target(ALL + f"x = {i}\n") for i in range(6)] + [target("danger_b(1)\n")]
    hits = engine(pack(tmp_path)).scan(ts)
    assert all(rules(hits, t) == {"scr-a", "open-c"} for t in ts[:-1])
    assert hits[ts[-1].key] == []


def test_the_stream_keeps_the_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ts = [target(ALL + f"x = {i}\n") for i in range(6)] + [target("danger_b(1)\n")]
    with pipeline.HeadStream(engine(pack(tmp_path)), flush_bytes=40) as stream:
        for t in ts:
            stream.add(t)
        hits = stream.close()
    assert all(rules(hits, t) == {"scr-a", "open-c"} for t in ts[:-1])
    assert hits[ts[-1].key] == []


def test_a_target_no_rule_can_match_never_reaches_semgrep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts = tmp_path / "starts"
    wrap_semgrep(tmp_path, monkeypatch, WRAPPER, starts, 0)
    d = pack(tmp_path, open_rule=False)
    quiet = [target("danger_b(1)\ndanger_c(2)\n"), target("import os\n")]
    hits = engine(d).scan(quiet)
    assert hits == {t.key: [] for t in quiet}
    assert not starts.exists()
    with pipeline.HeadStream(engine(d), flush_bytes=1) as stream:
        for t in quiet:
            stream.add(t)
        assert stream.close() == {t.key: [] for t in quiet}
    assert not starts.exists()
    # One that can match starts it, for itself alone.
    loud = target("danger_a(1)\n")
    assert rules(engine(d).scan([*quiet, loud]), loud) == {"scr-a"}
    assert len(list(starts.iterdir())) == 1


def test_a_warm_recheck_never_builds_the_screened_pack(tmp_path: Path) -> None:
    """The cache answers a warm re-check: the rule files are neither read nor
    copied (the hook's fast path), and the answer is the cold run's."""
    d = pack(tmp_path)
    rp = RulePack(dirs=(d,), digest="test", builtin=d)
    t = target(ALL)
    cold = runner.Engine(rp, SemgrepSettings(), tmp_path / "cache")
    first = cold.scan([t])
    assert cold._built is not None
    warm = runner.Engine(rp, SemgrepSettings(), tmp_path / "cache")
    assert warm.scan([t]) == first
    assert warm._built is None and not warm.parsed(t.key)


def test_an_unscreened_rule_still_sees_a_file_with_an_all_zero_mask(tmp_path: Path) -> None:
    t = target("danger_c(1)\n")
    assert rules(engine(pack(tmp_path)).scan([t]), t) == {"open-c"}


def test_python_that_python_cannot_parse_runs_every_rule(tmp_path: Path) -> None:
    """The attacker's hope: a file our parser rejects is screened out of
    everything. It gets every rule instead, and semgrep's own verdict on it."""
    t = target("danger_b(1)\nprint 'py2'\n")
    hits = engine(pack(tmp_path, open_rule=False)).scan([t])
    assert hits[t.key], "nothing ran on a file Python cannot parse"
    assert {h.rule for h in hits[t.key]} & {"scr-b", "semgrep-parse-error"}


def test_a_python_file_with_a_shell_shebang_runs_every_rule(tmp_path: Path) -> None:
    t = target("#!/bin/bash\ndanger_b(1)\n")
    hits = engine(pack(tmp_path, open_rule=False)).scan([t])
    assert rules(hits, t) == {"scr-b"}


def test_a_policy_with_its_own_rule_dir_runs_unscreened(tmp_path: Path) -> None:
    d = pack(tmp_path)
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "c.yaml").write_text(RULE.format(id="own", call="danger_d", screen=""))
    t = target(ALL)
    assert rules(engine(d, custom).scan([t]), t) == {"scr-a", "scr-b", "open-c"}


def test_a_subset_of_the_rules_is_screened_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = pack(tmp_path)
    a, c = target("danger_a(1)\ndanger_c(1)\n"), target("danger_c(2)\n")
    assert rules(engine(d).scan_with_rules([a], {"scr-a"}), a) == {"scr-a"}
    starts = tmp_path / "starts"
    wrap_semgrep(tmp_path, monkeypatch, WRAPPER, starts, 0)
    assert engine(d).scan_with_rules([c], {"scr-a"}) == {c.key: []}
    assert not starts.exists()
