"""``traingate verify`` before a job starts, and the launch recipes, for real (issue #20).

A real repository gets a change through the real gate (``traingate check``
with a signed decision log), merged into main; then the working tree, a
commit, and the recipes (SLURM prolog, torchrun wrapper) are run with stand-in
commands for ``scontrol`` and ``torchrun``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from . import envkit
from .conftest import Repo

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "templates" / "launch"
TRAINGATE = str(Path(sys.executable).parent / "traingate")


class Gated:
    def __init__(self, tmp: Path) -> None:
        self.key, self.signers = envkit.keygen(tmp, "gate")
        self.log = tmp / "decisions.jsonl"
        self.repo = Repo(tmp / "trainer")
        self.repo.write(".traingate.yaml", envkit.GATE_POLICY)
        self.repo.write("train.py", "lr = 3e-4\n")
        self.repo.write(".gitignore", "outputs/\n")
        self.repo.write("run.sh", "#!/bin/sh\n", mode=0o755)
        self.repo.commit("initial")
        self.merge = envkit.gated_change(
            self.repo, tmp, self.key, self.log, {"train.py": "lr = 1e-4\n"}
        )

    def evidence(self) -> list[str]:
        return ["--audit-log", str(self.log), "--allowed-signers", str(self.signers)]


@pytest.fixture
def gated(tmp_path: Path) -> Gated:
    return Gated(tmp_path)


def verify(
    gated: Gated, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["verify", *args, *gated.evidence(), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_approved_tree_passes(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 0 and doc["decision"] == "pass", doc
    assert doc["evidence"].startswith("decision log record 1")
    # Empty directories hold nothing to import (git does not track them either).
    (gated.repo.path / "sub").mkdir()
    assert verify(gated, capsys, str(gated.repo.path))[0] == 0
    # A subdirectory means the whole checkout: a stray file outside it still counts.
    (gated.repo.path / "stray.py").write_text("x = 1\n")
    code, doc = verify(gated, capsys, str(gated.repo.path / "sub"))
    assert code == 1 and doc["differences"][0]["path"] == "stray.py"
    (gated.repo.path / "stray.py").unlink()
    # --commit alone checks the tree id only.
    code, doc = verify(gated, capsys, "--repo", str(gated.repo.path), "--commit", "main")
    assert code == 0 and doc["directory"] is None
    code, doc = verify(gated, capsys, str(gated.repo.path), "--branch", "main")
    assert code == 0


@pytest.mark.parametrize(
    ("how", "path", "kind"),
    [
        ("edit", "train.py", "modified"),
        ("untracked", "helper.py", "untracked"),
        ("ignored", "outputs/patch.py", "untracked"),
        ("delete", "README.md", "missing"),
        ("chmod", "run.sh", "mode"),
    ],
)
def test_any_changed_file_blocks_and_the_first_is_named(
    gated: Gated, capsys: pytest.CaptureFixture[str], how: str, path: str, kind: str
) -> None:
    target = gated.repo.path / path
    if how == "delete":
        gated.repo.write("README.md", "# x\n")
        gated.repo.commit("readme")  # a commit on main after the gated merge
        head_has_evidence = False
        target.unlink()
    else:
        head_has_evidence = True
        if how == "chmod":
            target.chmod(0o644)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("lr = 1e-2\n")
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1 and doc["decision"] == "block"
    assert doc["differences"][0] == {
        "path": path,
        "kind": kind,
        "detail": doc["differences"][0]["detail"],
    }
    assert (doc["evidence"] is not None) == head_has_evidence
    main(["verify", str(gated.repo.path), *gated.evidence()])
    assert f"first difference {path}:" in capsys.readouterr().out


def test_a_tree_without_evidence_blocks(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    gated.repo.write("train.py", "lr = 9e-1\n")
    gated.repo.commit("direct push", who="mallory")  # never went through the gate
    code, doc = verify(gated, capsys, str(gated.repo.path))
    assert code == 1 and doc["differences"] == [] and doc["evidence"] is None
    assert any("no record has head_tree" in t for t in doc["evidence_tried"])
    # The feature head's tree passed; the commit before the change did not.
    code, _ = verify(gated, capsys, "--repo", str(gated.repo.path), "--commit", "main~1")
    assert code == 0
    code, _ = verify(gated, capsys, "--repo", str(gated.repo.path), "--commit", "main~2")
    assert code == 1


def test_a_tampered_or_unsigned_log_is_not_evidence(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = gated.log.read_text().splitlines()
    gated.log.write_text(lines[0].replace('"patch_id"', '"patch_ID"') + "\n")
    assert main(["verify", str(gated.repo.path), *gated.evidence()]) == 2
    assert "not intact" in capsys.readouterr().err
    assert main(["verify", str(gated.repo.path)]) == 2  # no evidence source at all


def test_env_baseline_is_checked_too(
    gated: Gated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = envkit.write_project(tmp_path / "pkg")
    wheel = envkit.build_wheel(project, tmp_path / "dist")
    env = envkit.make_venv(tmp_path / "venv")
    envkit.pip_install(env, wheel)
    baseline = tmp_path / "env.json"
    assert (
        main(
            [
                "env",
                "snapshot",
                "--env",
                str(env),
                "-o",
                str(baseline),
                "--key",
                str(gated.key),
                "--signer",
                "gate",
            ]
        )
        == 0
    )
    args = [str(gated.repo.path), "--env-baseline", str(baseline), "--env", str(env)]
    assert verify(gated, capsys, *args)[0] == 0
    (envkit.site_packages(env) / "tinypkg" / "core.py").write_text("evil = 1\n")
    code, doc = verify(gated, capsys, *args, "--only", "tinypkg")
    assert code == 1 and doc["differences"] == [] and doc["environment"]["ok"] is False
    assert any(p.endswith("tinypkg/core.py") for p in doc["environment"]["errors"])


# --------------------------------------------------------------------------- recipes


def _recipe_env(gated: Gated, tmp: Path) -> dict[str, str]:
    conf = tmp / "launch.env"
    conf.write_text(
        f"TRAINGATE={TRAINGATE}\n"
        f"TRAINGATE_ALLOWED_SIGNERS={gated.signers}\n"
        f"TRAINGATE_AUDIT_LOG={gated.log}\n"
        "TRAINGATE_BRANCH=main\n"
    )
    stand_ins = tmp / "bin"
    stand_ins.mkdir(exist_ok=True)
    launched = tmp / "launched"
    torchrun = stand_ins / "torchrun"
    torchrun.write_text(f'#!/bin/sh\necho "$@" > {launched}\n')
    torchrun.chmod(0o755)
    scontrol = stand_ins / "scontrol"
    scontrol.write_text(
        "#!/bin/sh\n"
        f'echo "JobId=$3 JobName=train UserId=alice(1000) WorkDir={gated.repo.path} '
        'Command=train.sbatch"\n'
    )
    scontrol.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "TRAINGATE"))}
    env.update(
        TRAINGATE_LAUNCH_CONF=str(conf),
        PATH=f"{stand_ins}{os.pathsep}{env.get('PATH', '')}",
        SLURM_JOB_ID="4242",
    )
    return env


def test_torchrun_wrapper_launches_only_an_approved_tree(gated: Gated, tmp_path: Path) -> None:
    env = _recipe_env(gated, tmp_path)
    wrapper = str(RECIPES / "traingate-torchrun")
    args = [wrapper, "--nproc-per-node", "2", "train.py", "--lr", "1e-4"]
    proc = subprocess.run(args, cwd=gated.repo.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "launched").read_text() == "--nproc-per-node 2 train.py --lr 1e-4\n"
    (tmp_path / "launched").unlink()
    (gated.repo.path / "train.py").write_text("lr = 1.0\n")
    proc = subprocess.run(args, cwd=gated.repo.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and not (tmp_path / "launched").exists()
    assert "first difference train.py: content differs" in proc.stderr
    assert "refusing to launch" in proc.stderr


def test_slurm_prolog_blocks_a_modified_job_directory(gated: Gated, tmp_path: Path) -> None:
    env = _recipe_env(gated, tmp_path)
    prolog = [str(RECIPES / "slurm-prolog.sh")]
    # The job's WorkDir comes from (the stand-in) `scontrol show job 4242`.
    proc = subprocess.run(prolog, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (gated.repo.path / "outputs").mkdir()
    (gated.repo.path / "outputs" / "sitecustomize.py").write_text("import os\n")
    proc = subprocess.run(prolog, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "outputs/sitecustomize.py" in proc.stderr and "job 4242 blocked" in proc.stderr
    # Without the signers setting the prolog refuses rather than passing.
    env["TRAINGATE_LAUNCH_CONF"] = str(tmp_path / "missing.env")
    proc = subprocess.run(prolog, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "TRAINGATE_ALLOWED_SIGNERS is not set" in proc.stderr
