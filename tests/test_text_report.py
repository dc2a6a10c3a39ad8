"""The text report (issue #18): whole-output snapshots with and without colour,
the hook's four outcomes, and what the terminal must never receive.

Real git repositories, real semgrep; temp paths and commit ids are scrubbed.
Accept an intended change with TRAINGATE_UPDATE_SNAPSHOTS=1 (tests/snapshot.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from traingate.cli import main
from traingate.findings import Report
from traingate.report.text import Options, render

from . import outcomes
from .conftest import Repo
from .snapshot import assert_snapshot, scrub

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's shell must not decide what the snapshots see.
    for var in ("NO_COLOR", "FORCE_COLOR", "TRAINGATE_DOCS_URL"):
        monkeypatch.delenv(var, raising=False)


def _range(repo: Repo, files: dict[str, str]) -> Repo:
    outcomes.base(repo)
    repo.branch("feature")
    outcomes.write(repo, files)
    repo.commit("change", who="mallory")
    return repo


def _run(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, scrub(capsys.readouterr().out, root)


def test_snapshot_plain_blocking_approval_warning_exemption(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI's view (approvals enforced): a blocking finding, a finding that needs
    the security group, a warning and an exempted finding, in one change."""
    _range(repo, outcomes.EVERYTHING)
    code, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--base", "main")
    assert code == 1
    assert_snapshot("report-plain", out)
    assert "\x1b" not in out


def test_snapshot_color_is_the_plain_text_plus_styles(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _range(repo, outcomes.EVERYTHING)
    argv = ("check", "--repo", str(repo.path), "--base", "main")
    _, plain = _run(capsys, tmp_path, *argv)
    monkeypatch.setenv("FORCE_COLOR", "1")
    code, colored = _run(capsys, tmp_path, *argv)
    assert code == 1
    assert_snapshot("report-color", colored)
    assert "\x1b[1;31mBLOCKED\x1b[0m" in colored
    assert ANSI.sub("", colored) == plain  # colour never changes a character
    monkeypatch.setenv("NO_COLOR", "1")  # no-color.org wins over FORCE_COLOR
    assert _run(capsys, tmp_path, *argv)[1] == plain


def test_explain_adds_the_rule_paragraph_only_when_asked(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _range(repo, {"tools/run.py": outcomes.RUN})
    argv = ("check", "--repo", str(repo.path), "--base", "main")
    _, short = _run(capsys, tmp_path, *argv)
    _, long = _run(capsys, tmp_path, *argv, "--explain")
    rationale = "run arbitrary commands"
    assert rationale not in short and "= why:" not in short
    assert "= why: os.system, os.popen" in long and rationale in " ".join(long.split())
    # One line per finding by default: the header ends with the outcome.
    header = next(x for x in short.splitlines() if "error[exec-os-command]" in x)
    assert header.endswith("(needs approval)")


@pytest.mark.parametrize("outcome", list(outcomes.CHANGES))
def test_hook_outcome_snapshot_and_summary_agree_with_exit(
    outcome: str, repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the pre-commit hook prints for each outcome (the docs embed these)."""
    outcomes.base(repo)
    outcomes.write(repo, outcomes.CHANGES[outcome])
    repo.git("add", "-A")
    code, out = _run(
        capsys, tmp_path, "check", "--repo", str(repo.path), "--staged", "--approvals-advisory"
    )
    assert code == outcomes.EXIT[outcome], out
    assert_snapshot(f"hook-{outcome}", out)
    last = out.splitlines()[-1]
    assert last.startswith("BLOCKED" if code else "PASSED") and last.endswith(f"(exit {code})")
    if code == 0:
        assert "blocks now:" not in out and "(blocks)" not in out
    else:
        # Exactly the findings tagged "(blocks)" are listed as blocking.
        tagged = [x.split(": ")[0] for x in out.splitlines() if x.endswith("(blocks)")]
        listed = out.split("blocks now: ", 1)[1].splitlines()[0]
        assert [x.split(" at ")[1] for x in listed.split("; ")] == tagged
        assert "`SKIP=traingate git commit` skips this hook once" in out


def test_approval_findings_are_advisory_in_the_hook_and_enforced_in_ci(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--approvals-advisory treats an approval a finding requires like a path
    approval: shown, not blocking; the same change blocks where it is enforced."""
    _range(repo, {"tools/run.py": outcomes.RUN})
    staged = ("check", "--repo", str(repo.path), "--base", "main", "--approvals-advisory")
    code, out = _run(capsys, tmp_path, *staged)
    assert code == 0 and "(needs approval at merge)" in out
    assert out.splitlines()[-1] == "PASSED: 1 approval needed at merge (exit 0)"
    code, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--base", "main")
    assert code == 1 and "(needs approval)" in out and "at merge" not in out
    assert "approvals missing (block now): findings:security: 1 from sam" in out
    assert out.splitlines()[-1] == "BLOCKED: 1 approval missing (exit 1)"
    # A warning never blocks, in either mode.
    assert "warning[" not in out


def test_raised_by_is_in_numeric_line_order(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = ["import os"] + ["pass"] * 10
    for n in (1, 7, 11):
        body[n - 1 if n > 1 else 1] = "os.system('x')"
    _range(repo, {"tools/many.py": "import os\n" + "\n".join(body[1:]) + "\n"})
    _, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--base", "main")
    lines = [int(m) for m in re.findall(r"exec-os-command at tools/many\.py:(\d+)", out)]
    assert lines == sorted(lines) and len(lines) >= 3, out
    assert [int(x) for x in re.findall(r"^tools/many\.py:(\d+):", out, re.M)] == sorted(lines)


def test_text_from_the_change_cannot_drive_the_terminal(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source line comes from the change: escape sequences and bidi
    controls are shown as <U+XXXX>, in plain and in colour output."""
    line = "os.system('x')  # \x1b[2J\x1b]0;pwned\x07 \u202e\n"
    _range(repo, {"tools/esc.py": "import os\n" + line})
    argv = ("check", "--repo", str(repo.path), "--base", "main")
    _, plain = _run(capsys, tmp_path, *argv)
    assert "\x1b" not in plain and "\x07" not in plain and "\u202e" not in plain
    assert "# <U+001B>[2J<U+001B>]0;pwned<U+0007> <U+202E>" in plain
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, colored = _run(capsys, tmp_path, *argv)
    assert "\x1b[2J" not in colored and "\x07" not in colored


def test_caret_under_tabs_and_wide_characters(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _range(repo, {"tools/t.py": "import os\nif True:\n\tx = '数据'; os.system('x')\n"})
    _, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--base", "main")
    rows = out.splitlines()
    i = next(i for i, x in enumerate(rows) if x.startswith("3 |"))
    src, caret = rows[i], rows[i + 1]
    assert src == "3 |     x = '数据'; os.system('x')"
    # '数据' is two display columns per character: the caret still lands on os.
    width = sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in src[: src.index("os.system")])
    assert caret.index("^") == width


def test_unactionable_group_warnings_stay_out_of_check_output(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The built-in policy's empty groups: the engineer cannot act on them, so
    `check` and the hook do not print them; machine formats keep them, and the
    renderer shows them where asked (`ci`)."""
    repo.write("README.md", "# x\n")
    repo.commit("base")
    repo.write("README.md", "# y\n")
    repo.git("add", "-A")
    code, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--staged")
    assert code == 0 and "has no members" not in out
    code, doc = _run(
        capsys, tmp_path, "check", "--repo", str(repo.path), "--staged", "--format", "json"
    )
    assert sum("has no members" in w for w in __import__("json").loads(doc)["warnings"]) == 6
    report = Report(mode="range", root=".", policy_source="p", policy_sha256="")
    report.warnings.append("sensitive path 'x': group 'security' has no members; nobody can ...")
    assert "has no members" in render(report, Options(policy_warnings=True))
    assert "has no members" not in render(report, Options(policy_warnings=False))


def test_plain_output_never_imports_rich(repo: Repo) -> None:
    """The hook runs on every commit: rich is imported only when colour is on."""
    outcomes.base(repo)
    outcomes.write(repo, outcomes.CHANGES["approvals"])
    repo.git("add", "-A")
    probe = (
        "import sys; from traingate.cli import main; "
        f"code = main(['check', '--repo', {str(repo.path)!r}, '--staged', '--approvals-advisory']); "
        "sys.stdout.flush(); print('RICH' if 'rich' in sys.modules else 'NO-RICH', code)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("FORCE_COLOR",)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert proc.stdout.splitlines()[-1] == "NO-RICH 0", proc.stdout + proc.stderr
    env["FORCE_COLOR"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert proc.stdout.splitlines()[-1] == "RICH 0", proc.stdout + proc.stderr


def test_help_link_follows_traingate_docs_url(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _range(repo, {"tools/run.py": outcomes.RUN})
    monkeypatch.setenv("TRAINGATE_DOCS_URL", "https://docs.example.internal/traingate")
    _, out = _run(capsys, tmp_path, "check", "--repo", str(repo.path), "--base", "main")
    assert (
        "= help: https://docs.example.internal/traingate/rules/exec-os-command.md, "
        "or `traingate rule exec-os-command` offline"
    ) in out
    assert "see docs/rules/" not in out


def test_scan_and_ci_accept_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "run.py"
    target.write_text(outcomes.RUN)
    code = main(["scan", "--explain", str(target)])
    out = capsys.readouterr().out
    assert code == 1 and "= why: os.system, os.popen" in out
    # `scan` has no approvals: the finding that needs one is what blocks.
    assert "= needs: 1 approval from security; `scan` has no approvals" in out
    assert out.splitlines()[-1] == "BLOCKED: 1 finding blocks (exit 1)"
    with pytest.raises(SystemExit):
        main(["ci", "--help"])
    assert "--explain" in capsys.readouterr().out
