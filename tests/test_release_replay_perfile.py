"""bench/release_replay.py --per-file: one real commit per changed file (issue #16).

The per-file replay stands in for ordinary commits, so each one-file change
must hold exactly one file's edit on top of the older release, for an added,
a modified and a deleted file alike, and the wheel's ``*.dist-info/`` (which
no source commit touches) must stay out. Real git in a temp dir; the verdict
join is checked on a report's findings as the script records them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def replay() -> ModuleType:
    # The bench scripts import their helpers (fp_configs) from bench/.
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("release_replay", BENCH / "release_replay.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _release(repo: Path, tag: str, files: dict[str, str]) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            subprocess.run(["rm", "-rf", str(child)], check=True)
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", tag)
    _git(repo, "tag", tag)


@pytest.fixture
def two_releases(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    common = {"pkg/keep.py": "x = 1\n"}
    _release(
        repo,
        "v1.0",
        common
        | {"pkg/mod.py": "a = 1\n", "pkg/gone.py": "g = 1\n", "pkg-1.0.dist-info/METADATA": "1\n"},
    )
    _release(
        repo,
        "v1.1",
        common
        | {"pkg/mod.py": "a = 2\n", "pkg/new.py": "n = 1\n", "pkg-1.1.dist-info/METADATA": "2\n"},
    )
    return repo


def test_changes_leave_out_dist_info(replay: ModuleType, two_releases: Path) -> None:
    got = replay.one_file_changes(two_releases, "1.0", "1.1")
    assert sorted(got) == [("A", "pkg/new.py"), ("D", "pkg/gone.py"), ("M", "pkg/mod.py")]


@pytest.mark.parametrize(
    ("status", "path", "expect"),
    [("A", "pkg/new.py", "n = 1\n"), ("M", "pkg/mod.py", "a = 2\n"), ("D", "pkg/gone.py", None)],
)
def test_one_file_commit_holds_that_file_only(
    replay: ModuleType,
    two_releases: Path,
    tmp_path: Path,
    status: str,
    path: str,
    expect: str | None,
) -> None:
    head = replay.one_file_commit(two_releases, "1.0", "1.1", status, path, tmp_path / "index")
    assert (
        _git(two_releases, "rev-parse", f"{head}^").strip()
        == _git(two_releases, "rev-parse", "v1.0^{commit}").strip()
    )
    diff = _git(two_releases, "diff", "--name-status", "--no-renames", "v1.0", head)
    assert diff == f"{status}\t{path}\n"
    shown = subprocess.run(
        ["git", "-C", str(two_releases), "show", f"{head}:{path}"], capture_output=True, text=True
    )
    assert (shown.stdout if shown.returncode == 0 else None) == expect
    # The work tree and the repository's own index are not touched.
    assert _git(two_releases, "status", "--porcelain") == ""


def test_verdict_join(replay: ModuleType) -> None:
    rec = {"package": "timm", "change": "1.0.26-1.0.27"}
    chain = "calls timm.models._builder.build_model_with_cfg -> torch.load"
    f = {"rule_id": "reach-dangerous-call", "path": "timm/models/x.py", "line": 7, "message": chain}
    rule = {"package": "timm", "rule": "reach-dangerous-call"}
    by_path = rule | {"path": "timm/models/x.py"}
    assert replay.verdict_of(f, rec, [by_path | {"verdict": "dismiss"}]) == "dismiss"
    # Optional fields narrow the match; the first match wins.
    other_line = by_path | {"line": 8, "verdict": "want"}
    assert replay.verdict_of(f, rec, [other_line, by_path | {"verdict": "dismiss"}]) == "dismiss"
    other_change = by_path | {"change": "1.0.27-1.0.28", "verdict": "want"}
    assert replay.verdict_of(f, rec, [other_change]) == "unjudged"
    assert replay.verdict_of(f, rec, [rule | {"path": "timm/y.py", "verdict": "want"}]) == (
        "unjudged"
    )
    # One verdict for a chain, whatever file calls it.
    by_chain = rule | {"contains": "build_model_with_cfg -> torch.load", "verdict": "dismiss"}
    assert replay.verdict_of(f, rec, [by_chain]) == "dismiss"
    assert replay.verdict_of(
        f, rec, [rule | {"contains": "-> pickle.loads", "verdict": "want"}]
    ) == ("unjudged")
    assert replay.verdict_of(f, {"package": "peft", "change": "x"}, [by_chain]) == "unjudged"


def _rec(path: str, *gated: tuple[str, str], change: str = "1.0-1.1") -> dict[str, object]:
    return {
        "package": "pkg",
        "change": change,
        "status": "M",
        "path": path,
        "of": 10,
        "exit": 1 if gated else 0,
        "errors": [],
        "requirements": [],
        "gated": [
            {"rule_id": r, "check": "x", "path": path, "line": 3, "outcome": "block", "message": m}
            for r, m in gated
        ],
    }


def test_tabulate_counts_changes_by_their_verdicts(
    replay: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recs = [
        _rec("a.py"),
        _rec("b.py", ("reach-dangerous-call", "-> torch.load")),  # dismissed
        _rec(
            "c.py", ("reach-dangerous-call", "-> torch.load"), ("deser-pickle-load", "")
        ),  # wanted
        _rec("d.py", ("egress-http-upload", "")),  # nobody judged it
        _rec("e.yaml", ("config-key-change", "")),  # a policy approval, not a security block
        _rec("a.py"),  # the same one-file change from a second run counts once
    ]
    jsonl = tmp_path / "per-file.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    verdicts = tmp_path / "v.json"
    v = [
        {"package": "pkg", "rule": "reach-dangerous-call", "contains": "torch.load"},
        {"package": "pkg", "rule": "deser-pickle-load", "path": "c.py"},
    ]
    v[0] |= {"verdict": "dismiss", "reason": "r"}
    v[1] |= {"verdict": "want", "reason": "r"}
    verdicts.write_text(json.dumps(v), encoding="utf-8")
    replay.tabulate([jsonl], verdicts)
    out = capsys.readouterr().out.splitlines()
    # one-file changes, checked, errors, blocked, want, dismiss, unjudged, share, policy, paths
    assert "| pkg | 10 | 5 | 0 | 3 | 1 | 1 | 1 | 20.0% | 1 | 0 |" in out
    assert "| `reach-dangerous-call` | 2 | 2 | 0 | 2 | 0 |" in out
    assert "| `deser-pickle-load` | 1 | 1 | 1 | 0 | 0 |" in out
    assert "- pkg `egress-http-upload` d.py:3 (1x): " in out


def test_wilson_interval(replay: ModuleType) -> None:
    lo, hi = replay._wilson(0, 240)
    assert lo == 0.0 and round(hi, 4) == 0.0158
    assert replay._wilson(0, 0) == (0.0, 1.0)
