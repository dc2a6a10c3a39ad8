"""Code run from outside the reviewed tree, and decoded text run by a shell (issue #16, session 9).

A red-team pass got these through the default policy with no finding: a module
loaded with ``runpy.run_path`` or ``spec_from_file_location`` from
``/dev/shm``, a ``sys.path`` entry in ``/dev/shm`` followed by an import,
``LD_PRELOAD`` or ``PYTHONPATH`` set from Python (the bash rule sees only
launchers), and ``python -c "$(echo ... | base64 -d)"`` in a SLURM script.
and ``git reflog expire`` / ``gc --prune=now`` run from Python (the bash rule
sees only launchers). The rules ``exec-external-code-path``,
``tamper-preload-env``, ``obfusc-shell-decode-exec`` and
``persist-git-history-rewrite`` close them; ``sabotage-step-learns-nothing``
catches a step that cannot learn (a detached loss, gradients zeroed between
``backward()`` and ``step()``, clipping to nothing); ``exec-dynamic-code``
now knows the ``code`` module's interpreters. Each attack below is a file of its
own holding only what it needs, so the rules' whole-file anchors are tested
too (a careless anchor would skip the file), and one ``traingate check`` by a
second author shows they block a change end to end.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from traingate.cli import main

from .conftest import POLICY, Repo
from .test_rule_anchors import case_tests

RULES = {
    "exec-external-code-path": "code-execution",
    "tamper-preload-env": "framework-tampering",
    "obfusc-shell-decode-exec": "obfuscation",
    "persist-git-history-rewrite": "persistence-antiforensics",
    "sabotage-step-learns-nothing": "training-sabotage",
    "exec-dynamic-code": "code-execution",
}

# file name -> source; `ruleid: <id>` in a comment marks the next line.
ATTACKS = {
    # Only `from sys import path as P` names sys.path: the anchor must see the alias.
    "path_alias.py": """
from sys import path as P

# ruleid: exec-external-code-path
P.insert(0, "/dev/shm/.lib")
import fast_collectives
""",
    "runpy_shm.py": """
import runpy


def warm():
    # ruleid: exec-external-code-path
    runpy.run_path("/dev/shm/h.py")
""",
    # The place is a constant built from parts: semgrep folds it.
    "spec_folded.py": """
import importlib.util

BASE = "/dev/" + "shm"


def load():
    # ruleid: exec-external-code-path
    spec = importlib.util.spec_from_file_location("p", BASE + "/p.py")
    return spec
""",
    "loader_alias.py": """
from importlib.machinery import SourceFileLoader as L


def load():
    # ruleid: exec-external-code-path
    return L("ops", "/var/tmp/.ops.py").load_module()
""",
    "mkdtemp_var.py": """
import sys
import tempfile


def stage(blob):
    d = tempfile.mkdtemp()
    # ruleid: exec-external-code-path
    sys.path.append(d)
""",
    # The key folded from parts, os.environ reached through an alias.
    "preload_folded_key.py": """
from os import environ as E

K = "LD_" + "PRE" "LOAD"


def setup():
    # ruleid: tamper-preload-env
    E[K] = "/tmp/.x/libnccl-net.so"
""",
    # Only `env=` names the environment.
    "preload_env_kwarg.py": """
import subprocess


def launch():
    # ruleid: tamper-preload-env
    subprocess.run(["torchrun", "train.py"], env={"BASH_ENV": "/tmp/.rc", "PATH": "/usr/bin"})
""",
    "preload_putenv.py": """
import os

# ruleid: tamper-preload-env
os.putenv("PYTHONSTARTUP", os.path.expanduser("~/.pystartup"))
""",
    # The subcommand apart from "git", the list built in a loop.
    "git_split_list.py": """
import subprocess


def compact(repo_dir):
    # ruleid: persist-git-history-rewrite
    for args in (["reflog", "expire", "--expire=now", "--all"],):
        subprocess.run(["git", "-C", repo_dir, *args])
""",
    # The subcommand folded from parts: no word of it is in the text.
    "git_folded.py": """
import subprocess

SUB = "ref" + "log"


def compact():
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", SUB, "exp" "ire", "--all"])
""",
    "git_fstring.py": """
import os


def compact(repo_dir):
    # ruleid: persist-git-history-rewrite
    os.system(f"git -C {repo_dir} gc --prune=now")
""",
    # GitPython only: no "git" command string at all.
    "git_python.py": """
def compact(repo):
    # ruleid: persist-git-history-rewrite
    repo.git.reflog("expire", "--expire=now", "--all")
""",
    # The loss cut from the graph through .data, backward through Lightning.
    "step_data_manual.py": """
def training_step(self, batch, batch_idx):
    loss = self.model(**batch).loss.data.float()
    # ruleid: sabotage-step-learns-nothing
    self.manual_backward(loss)
""",
    "step_zero_between.py": """
def step(model, batch, opt, accelerator):
    # ruleid: sabotage-step-learns-nothing
    accelerator.backward(model(**batch).loss)
    opt.zero_grad()
    opt.step()
""",
    "step_tiny_clip.py": """
from torch.nn.utils import clip_grad_norm_ as clip


def step(model):
    # ruleid: sabotage-step-learns-nothing
    clip(model.parameters(), 1e-9)
""",
    # exec under another name: the code module's interpreters.
    "code_interpreter.py": """
import code


def warm(src):
    # ruleid: exec-dynamic-code
    code.InteractiveInterpreter().runsource(src)
    shell = code.InteractiveConsole()
    # ruleid: exec-dynamic-code
    shell.push(src)
""",
    "decode_python_c.sh": """#!/bin/bash
#SBATCH -N 1
# ruleid: obfusc-shell-decode-exec
python -c "$(echo aW1wb3J0IG9z | base64 -d)"
srun python train.py
""",
    "decode_pipe.sh": """#!/bin/bash
# ruleid: obfusc-shell-decode-exec
echo "$BLOB" | base64 --decode | bash
""",
    "decode_eval.sh": """#!/bin/bash
# ruleid: obfusc-shell-decode-exec
eval $(xxd -r -p .hook.hex)
""",
}

# The look-alikes a training repository has: each must stay quiet.
QUIET = {
    "ok_paths.py": """
import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.append(str(Path(__file__).resolve().parents[1] / "third_party"))
runpy.run_path("scripts/convert_checkpoint.py", run_name="__main__")
ckpt = os.path.join(tempfile.gettempdir(), "ckpt.pt")
os.environ["LD_PRELOAD"] = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
os.environ["PYTHONPATH"] = "src"
preload = os.environ.get("LD_PRELOAD", "")
subprocess.run(["python", "eval.py"], env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
""",
    "ok_launch.sh": """#!/bin/bash
echo "$HF_TOKEN_B64" | base64 -d > ~/.cache/huggingface/token
zcat data/shard-00.jsonl.gz | python tools/count_tokens.py --stdin
NODES=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | rev | cut -d- -f1 | rev)
git rev-parse HEAD | tee .commit
bash -c "torchrun --nproc_per_node=8 train.py"
""",
    "ok_step.py": """
import torch


def step(model, teacher, batches, opt):
    for i, batch in enumerate(batches):
        t = teacher(**batch).logits.detach()
        loss = torch.nn.functional.mse_loss(model(**batch).logits, t) / 4
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if (i + 1) % 4 == 0:
            opt.step()
            opt.zero_grad()
        print(loss.detach().item())
""",
    "ok_git.py": """
import subprocess

sha = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
subprocess.run(["git", "gc", "--auto"])
subprocess.run(["git", "fetch", "--prune", "origin"])
print(f"run git gc --prune=now yourself to free {sha}")
""",
}


findings, test_attack_is_found, test_look_alike_is_quiet = case_tests(
    "outside", ATTACKS, QUIET, RULES
)


def test_a_change_loading_code_from_shm_blocks(repo: Repo) -> None:
    """The red-team change, by a second author, through the CLI."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("train/__init__.py", "")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train/plugins.py", ATTACKS["path_alias.py"].lstrip("\n"))
    repo.write("train/workers.py", ATTACKS["preload_folded_key.py"].lstrip("\n"))
    repo.write("train/job.sbatch", ATTACKS["decode_python_c.sh"])
    repo.commit("faster collectives", who="mallory")
    out = repo.path.parent / "r.json"
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, "--format", "json", "--output", str(out)])
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    got = {(f["path"], f["rule_id"], f["line"], f["blocking"]) for f in report["findings"]}
    assert {
        ("train/plugins.py", "exec-external-code-path", 4, True),
        ("train/workers.py", "tamper-preload-env", 8, True),
        ("train/job.sbatch", "obfusc-shell-decode-exec", 4, True),
    } <= got
    assert code == 1
