"""config-key-change says what matched, and the outcome says whether it needs
approval, once (issue #18: the text report printed "needs approval" twice, one
from the message and one from the outcome, and "needs approval" in a JSON
message was wrong when the policy demoted the rule to a warning)."""

from __future__ import annotations

import json

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

# The built-in training-hyperparameters rule (optimizer.**, data.**) applies.
RULES = "checks:\n  semgrep: {enabled: false}\n"


@pytest.fixture
def crepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + RULES)
    repo.write(
        "configs/train.yaml",
        "paths:\n  root: /datasets/a\ndata:\n  dir: ${paths.root}/train\noptimizer:\n  lr: 3.0e-4\n",
    )
    repo.commit("base")
    repo.branch("feature")
    repo.write(
        "configs/train.yaml",
        "paths:\n  root: /datasets/b\ndata:\n  dir: ${paths.root}/train\noptimizer:\n  lr: 3.0e-2\n",
    )
    repo.write("configs/new.yaml", "optimizer:\n  lr: 1.0\n  momentum: 0.9\n")
    repo.commit("change", who="mallory")
    return repo


def _check(repo: Repo, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["check", "--repo", str(repo.path), "--base", "main", *extra])
    return code, capsys.readouterr().out


def test_config_key_change_says_needs_approval_once(
    crepo: Repo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    code, out = _check(crepo, capsys)
    headers = [x for x in out.splitlines() if "error[config-key-change]" in x]
    assert code == 1 and len(headers) == 3, out
    assert all(x.count("needs approval") == 1 and x.endswith("(needs approval)") for x in headers)
    assert (
        "configs/train.yaml:6:7: error[config-key-change] optimizer.lr: changed (0.0003 -> 0.03), "
        "an approval key of rule 'training-hyperparameters' (needs approval)"
    ) in headers
    assert (
        "configs/train.yaml:4:8: error[config-key-change] data.dir = '${paths.root}/train' now "
        "resolves to '/datasets/b/train': a key it interpolates changed; an approval key of "
        "rule 'training-hyperparameters' (needs approval)"
    ) in headers
    assert (
        "configs/new.yaml:2:7: error[config-key-change] new config file sets 2 key(s) matching "
        "approval_keys (optimizer.lr, optimizer.momentum) of rule 'training-hyperparameters' (needs approval)"
    ) in headers


def test_config_key_change_messages_name_no_outcome(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Machine formats carry the outcome in its own field, not in the message."""
    _, doc = _check(crepo, capsys, "--format", "json")
    found = [f for f in json.loads(doc)["findings"] if f["rule_id"] == "config-key-change"]
    assert len(found) == 3
    assert all("needs approval" not in f["message"] for f in found)
    assert {f["outcome"] for f in found} == {"require_approval"}
