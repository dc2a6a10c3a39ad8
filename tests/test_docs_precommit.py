"""docs/usage/pre-commit.md: the hooks table is .pre-commit-hooks.yaml, and
the outcome the page names that no snapshot shows, `(approved)` (issue #18).
The page's output blocks are held by tests/test_docs.py and
tests/test_text_report.py; the hooks through the real framework by
tests/test_precommit.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from traingate.cli import main

from . import outcomes
from .conftest import Repo

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "usage" / "pre-commit.md"


def _hooks_table() -> dict[str, tuple[str, str]]:
    """{hook id: (stage, command)} from the page's `| hook | stage | runs |` table."""
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([\w-]+)` \| ([^|]+) \| `([^`]+)`", line)
        if m:
            rows[m.group(1)] = (m.group(2).strip(), m.group(3))
    return rows


def test_hooks_table_is_what_the_hooks_file_runs() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    table = _hooks_table()
    assert (
        sorted(table)
        == sorted(hooks)
        == [
            "traingate",
            "traingate-push",
            "traingate-validate-policy",
        ]
    )
    for hook_id, (stage, command) in table.items():
        hook = hooks[hook_id]
        # The documented command is the entry (the policy hook names the file).
        assert hook["entry"].startswith(command), (hook_id, hook["entry"], command)
        assert hook["pass_filenames"] is False and hook["require_serial"] is True
        if hook_id == "traingate-validate-policy":
            assert stage.startswith("pre-commit") and ".traingate.yaml" in stage
            assert re.fullmatch(hook["files"], ".traingate.yaml")
        else:
            assert hook["stages"] == [stage] and hook["verbose"] is True
    # The three ids the page's example config lists.
    example = PAGE.read_text(encoding="utf-8").split("```yaml", 1)[1].split("```", 1)[0]
    assert re.findall(r"- id: ([\w-]+)", example) == list(table)


def test_an_approved_finding_reads_approved_and_passes(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcome table's `(approved)`: the approval the finding needs was
    given (by sam, the security group), so CI passes and says so."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    outcomes.base(repo)
    repo.branch("feature")
    outcomes.write(repo, {"tools/run.py": outcomes.RUN})
    repo.commit("change", who="mallory")
    head = repo.git("rev-parse", "HEAD").strip()
    reviews = tmp_path / "reviews.json"
    reviews.write_text(
        json.dumps(
            {
                "reviews": [
                    {
                        "user": "sam",
                        "state": "approved",
                        "commit": head,
                        "submitted_at": "2026-11-20T10:00:00Z",
                    }
                ]
            }
        )
    )
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--approvals", str(reviews)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    header = next(x for x in out.splitlines() if "error[exec-os-command]" in x)
    assert header.endswith("(approved)"), out
    assert out.splitlines()[-1].startswith("PASSED") and out.splitlines()[-1].endswith("(exit 0)")
