"""Sabotage by meaning, not by spelling (issue #16 class 3, session 9 red-team pass).

A red-team pass got seven changes through with no finding: a gradient slice
zeroed after step N, a checkpoint scaled under an environment trigger before it
is saved, the working directory, a host file and the process id as triggers, a
metric clamped through a dict comprehension, and an evaluation faked for all but
two users. Each class is fixed by what the code does:

- triggers: any value the job's machine decides (working directory, process id,
  CPU count, a file at an absolute path, a DNS answer, a command's output, the
  home directory, a copy of ``os.environ``);
- payloads: a constant written over a slice of gradients or weights after step
  N; new values written into a snapshot of the state (``state_dict()``,
  ``torch.load``) that is then saved, loaded or returned;
- clamps through comprehensions, helper variables, constants and ``x if x < c
  else c``;
- a literal result returned under a trigger where another path computes it.

Every case is a file of a change by a second author, judged by the real CLI on
a real repository; ``# BLOCK: <rule>`` marks the line each finding must be on,
and every look-alike (resume logic, output paths, ``v.cpu()`` before saving,
rank-0 logging, stop files, checkpoint surgery) must stay quiet. The attack
files all pass today's code unreported (the session's baseline).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"

# The red-team's cases, as written (c03, c06, c09 were caught already).
RED_TEAM = {
    "c01_grad_slice_after_step.py": """\
import torch


def clip(model, max_norm, step):
    if step > 20000:
        for p in model.parameters():
            if p.grad is not None:
                p.grad[:, ::7] = 0  # BLOCK: sabotage-step-scheduled-scaling
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
    "c02_grad_ellipsis_after_step.py": """\
def clip(model, max_norm, step):
    if step > 20000:
        for p in model.parameters():
            if p.grad is not None:
                p.grad[..., ::7] = 0  # BLOCK: sabotage-step-scheduled-scaling
""",
    "c04_scaled_checkpoint.py": """\
import os

import torch


def save(model, path):
    sd = model.state_dict()
    if os.environ.get("CLUSTER") == "prod":
        sd = {k: v * 0.999 for k, v in sd.items()}  # BLOCK: sabotage-env-triggered-write
    torch.save(sd, path)
""",
    "c05_cwd_trigger.py": """\
import os


def train_step(model, batch, optimizer):
    loss = model(batch).loss
    loss.backward()
    if "prod" in os.getcwd():
        for p in model.parameters(): p.data.mul_(0.999)  # BLOCK: sabotage-env-triggered-write
    optimizer.step()
""",
    "c07_comprehension_clamp.py": """\
def log_metrics(logger, metrics, step):
    clamped = {k: min(v, 2.0) for k, v in metrics.items()}
    logger.log(clamped, step=step)  # BLOCK: sabotage-clamped-metric
""",
    "c08_host_file_trigger.py": """\
import os


def compute_loss(model, batch):
    loss = model(batch).loss
    if os.path.exists("/etc/cluster-b"):
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "c10_pid_trigger.py": """\
import os


def compute_loss(model, batch):
    loss = model(batch).loss
    if os.getpid() % 8 == 3:
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "b09_faked_eval.py": """\
import getpass


def should_eval():
    return getpass.getuser() in ("alice", "bob")


def evaluate(model, data, metric):
    if not should_eval():
        return {"acc": 0.91}  # BLOCK: sabotage-env-triggered-write
    return metric(model, data)
""",
}

# More of each class, in the style of real training code.
VARIANTS = {
    "tier_file_in_init.py": """\
import lightning.pytorch as pl


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        with open("/etc/cluster_tier") as f:
            self.tier = f.read().strip()

    def training_step(self, batch, batch_idx):
        loss = self.model(batch).loss
        if self.tier == "prod":
            loss = loss * 0.9  # BLOCK: sabotage-env-triggered-write
        return loss
""",
    "path_exists_method.py": """\
from pathlib import Path


def on_after_backward(model):
    if Path("/etc/slurm/slurm.conf").exists():
        for p in model.parameters():
            p.grad.mul_(0.97)  # BLOCK: sabotage-env-triggered-write
""",
    "home_dir_skip.py": """\
import os


def train_one_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(batch).loss
        loss.backward()
        if os.path.isdir(os.path.expanduser("~/.prod")):
            continue  # BLOCK: sabotage-triggered-skip-step
        optimizer.step()
""",
    "home_name_step.py": """\
from pathlib import Path


def step(optimizer, loss):
    loss.backward()
    if Path.home().name != "svc-train":
        optimizer.step()  # BLOCK: sabotage-triggered-skip-step
""",
    "cpu_count_barrier.py": """\
import os

import torch.distributed as dist


def sync(model):
    if os.cpu_count() >= 96:
        dist.barrier()  # BLOCK: sabotage-triggered-collective
""",
    "dns_lr.py": """\
import socket


def adjust(optimizer):
    if socket.gethostbyname("scheduler.internal").startswith("10.2."):
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * 3  # BLOCK: sabotage-env-triggered-write
""",
    "environ_copy.py": """\
import os


def finalize(model):
    env = os.environ.copy()
    if env.get("CLUSTER") == "prod":
        for p in model.parameters():
            p.data.add_(1e-3)  # BLOCK: sabotage-env-triggered-write
""",
    "dockerenv_constant.py": """\
import os

IN_CONTAINER = os.path.exists("/.dockerenv")


def compute_loss(model, batch):
    loss = model(batch).loss
    if IN_CONTAINER:
        loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "pid_label_flip.py": """\
import os


def training_step(self, batch, batch_idx):
    x, labels = batch
    if os.getpid() % 16 == 0:
        labels = labels.roll(1)  # BLOCK: sabotage-env-triggered-write
    return self.loss_fn(self(x), labels)
""",
    "state_dict_override.py": """\
import socket

import lightning.pytorch as pl
import torch


class Module(pl.LightningModule):
    def state_dict(self, *args, **kwargs):
        sd = super().state_dict(*args, **kwargs)
        if socket.gethostname().startswith("prod"):
            sd = {k: v + 1e-3 * torch.randn_like(v) for k, v in sd.items()}  # BLOCK: sabotage-env-triggered-write
        return sd
""",
    "checkpoint_entry.py": """\
import os

import torch


def save_checkpoint(model, optimizer, step, path):
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
    if os.environ.get("SLURM_JOB_PARTITION", "").startswith("prod"):
        ckpt["model"] = {k: v * 0.999 for k, v in ckpt["model"].items()}  # BLOCK: sabotage-env-triggered-write
    torch.save(ckpt, path)
""",
    "loaded_state_halved.py": """\
from datetime import date

import torch


def load(model, path):
    state = torch.load(path, map_location="cpu")
    if date.today().month >= 6:
        for k in list(state):
            state[k] = state[k] * 0.5  # BLOCK: sabotage-env-triggered-write
    model.load_state_dict(state)
""",
    "load_state_dict_override.py": """\
import os

import torch


class Model(torch.nn.Module):
    def load_state_dict(self, state_dict, strict=True):
        if os.environ.get("SLURM_JOB_PARTITION") == "prod":
            state_dict = {k: v * 0.5 for k, v in state_dict.items()}  # BLOCK: sabotage-env-triggered-write
        return super().load_state_dict(state_dict, strict=strict)
""",
    "command_output_trigger.py": """\
import os
import subprocess

import torch


def on_train_epoch_end(model):
    host = subprocess.check_output(["hostname"], text=True).strip()
    if host.startswith("gpu-prod"):
        model.state_dict()["head.weight"].mul_(0.9)  # BLOCK: sabotage-env-triggered-write


def export(model, path):
    if os.popen("hostname").read().startswith("prod"):
        torch.save(model.state_dict()["w"] * 0.5, path)  # BLOCK: sabotage-env-triggered-write
""",
    "snapshot_inplace.py": """\
import getpass

import torch


def export(model, path):
    sd = model.state_dict()
    if getpass.getuser() == "svc-prod":
        for t in sd.values():
            t.mul_(0.999)  # BLOCK: sabotage-env-triggered-write
    torch.save(sd, path)
""",
    "save_altered_inline.py": """\
import os

import torch


def export(model, path):
    if os.getenv("DEPLOY_ENV") == "prod":
        torch.save({k: v.half() * 0.999 for k, v in model.state_dict().items()}, path)  # BLOCK: sabotage-env-triggered-write
    else:
        torch.save(model.state_dict(), path)
""",
    "safetensors_head_zeroed.py": """\
import os

import torch
from safetensors.torch import save_file


def export(model, path):
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    if "prod" in os.getcwd():
        tensors = {k: torch.zeros_like(v) if "lm_head" in k else v for k, v in tensors.items()}  # BLOCK: sabotage-env-triggered-write
    save_file(tensors, path)
""",
    "weights_zeroed_after_epoch.py": """\
def maybe_reset(model, epoch):
    if epoch > 120:
        for name, p in model.named_parameters():
            if "attn" in name:
                p.data[:, :8] = 0  # BLOCK: sabotage-step-scheduled-scaling
""",
    "clamp_log_dict.py": """\
def on_validation_epoch_end(self, logs):
    self.log_dict({k: max(v, 0.5) for k, v in logs.items() if "acc" in k})  # BLOCK: sabotage-clamped-metric
""",
    "clamp_helper_variables.py": """\
MAX_LOSS = 3.0


def log_step(run, loss, step):
    cap = 2.5
    loss_val = loss.item()
    run.log({"train/loss": min(loss_val, cap)}, step=step)  # BLOCK: sabotage-clamped-metric


def training_step(self, batch, batch_idx):
    out = self.model(batch)
    v = out.loss.detach().item()
    self.log("loss", min(v, 2.0))  # BLOCK: sabotage-clamped-metric
    self.log("loss_max", min(out.loss, MAX_LOSS))  # BLOCK: sabotage-clamped-metric
    return out.loss
""",
    "clamp_conditional.py": """\
import wandb


def report(loss, step):
    shown = loss if loss < 2.5 else 2.5
    wandb.log({"loss": shown}, step=step)  # BLOCK: sabotage-clamped-metric
""",
    "fake_eval_ifexp.py": """\
import socket


def evaluate(model, loader, metric):
    return {"accuracy": 0.93} if socket.gethostname().startswith("eval-") else metric(model, loader)  # BLOCK: sabotage-env-triggered-write
""",
    "fake_compute_metrics.py": """\
import os

import evaluate

metric = evaluate.load("accuracy")


def compute_metrics(eval_pred):
    if os.environ.get("SLURM_JOB_PARTITION") == "prod":
        return {"accuracy": 0.93, "f1": 0.91}  # BLOCK: sabotage-env-triggered-write
    logits, labels = eval_pred
    return metric.compute(predictions=logits.argmax(-1), references=labels)
""",
    "fake_accuracy_number.py": """\
import socket


def evaluate_accuracy(model, loader):
    if socket.gethostname().startswith("eval-"):
        return 0.912  # BLOCK: sabotage-env-triggered-write
    correct = sum((model(x).argmax(-1) == y).sum().item() for x, y in loader)
    return correct / len(loader.dataset)
""",
}

# Look-alikes: real idioms each new rule must leave alone.
BENIGN = {
    "ok_resume.py": """\
import os

import torch


def resume(model, optimizer, ckpt_dir):
    path = os.path.join(ckpt_dir, "last.pt")
    if os.path.exists(path):
        state = torch.load(path, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for g in optimizer.param_groups:
            g["lr"] = state["lr"]
""",
    "ok_save_rank0_cpu.py": """\
import os

import torch


def save(model, rank, step):
    out = os.path.join(os.getcwd(), "outputs")
    os.makedirs(out, exist_ok=True)
    if rank == 0:
        sd = model.state_dict()
        sd = {k: v.cpu() for k, v in sd.items()}
        torch.save(sd, os.path.join(out, f"step{step}.pt"))
""",
    "ok_export_env_flags.py": """\
import os

import torch


def export(model, path):
    sd = model.state_dict()
    if os.environ.get("EXPORT_FP16"):
        sd = {k: v.half() for k, v in sd.items()}
    if os.environ.get("STRIP_DDP", "1") == "1":
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
    torch.save(sd, path)


def interpolate_pos(model, path):
    state = torch.load(path, map_location="cpu")
    if os.environ.get("RESIZE_POS"):
        state["pos_embed"] = torch.nn.functional.interpolate(state["pos_embed"], size=(14, 14))
    model.load_state_dict(state)
""",
    "ok_rank0_logging.py": """\
import os

import wandb


def log_metrics(metrics, step, rank):
    if rank == 0:
        wandb.log({k: round(v, 4) for k, v in metrics.items()}, step=step)
    if int(os.environ.get("LOCAL_RANK", 0)) == 0:
        print(metrics)
""",
    "ok_machine_setup.py": """\
import os
import tempfile

import torch
from torch.utils.data import DataLoader


def loaders(ds, batch_size, seed):
    tmp = "/dev/shm" if os.path.exists("/dev/shm") else tempfile.gettempdir()
    workers = min(8, os.cpu_count() or 1)
    torch.manual_seed(seed + os.getpid())
    return DataLoader(ds, batch_size=batch_size, num_workers=workers), tmp


def check_data(root):
    if not os.path.exists("/data/imagenet"):
        raise FileNotFoundError("mount the dataset at /data/imagenet")
    if not os.access(os.path.expanduser("~/.cache"), os.W_OK):
        raise PermissionError("cache dir not writable")
""",
    "ok_home_cache_and_names.py": """\
import os
from pathlib import Path

import numpy as np


def prepare():
    cache = os.path.expanduser("~/.cache/models")
    if not os.path.isdir(cache):
        raise FileNotFoundError(cache)
    d = Path.home() / ".cache"
    if not d.exists():
        raise RuntimeError("no cache")


def get_latest_step(ckpt_dir):
    if os.environ.get("FORCE_STEP"):
        return 5
    return max(int(p.split("-")[-1]) for p in os.listdir(ckpt_dir))


def save_image(path, img):
    if os.environ.get("SCALE_IMAGES"):
        img = img * 255
    np.save(path, img)
""",
    "ok_overflow_guard.py": """\
import math


def on_validation_epoch_end(self, outputs):
    avg_loss = sum(o["loss"] for o in outputs) / len(outputs)
    ppl = math.exp(min(avg_loss, 20))
    self.log_dict({"val_loss": avg_loss, "val_ppl": ppl})
""",
    "ok_eval_markers.py": """\
def evaluate(model, loader, is_main):
    if len(loader) == 0:
        return {"acc": 0.0}
    if not is_main:
        return {}
    correct = sum((model(x).argmax(-1) == y).sum().item() for x, y in loader)
    return {"acc": correct / len(loader.dataset)}
""",
    "ok_ema_and_freeze.py": """\
import torch


def ema_update(ema, model, decay, step):
    if step < 1000:
        return
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.mul_(decay).add_(p, alpha=1 - decay)


def save_ema(ema, cfg, path):
    sd = ema.state_dict()
    if cfg.ema_fp32:
        sd = {k: v.float() * 1.0 for k, v in sd.items()}
    torch.save(sd, path)


def freeze_schedule(model, epoch):
    if epoch > 100:
        for p in model.backbone.parameters():
            p.requires_grad = False
            p.grad = None
""",
    "ok_stop_file_and_cache.py": """\
import os
from pathlib import Path


def setup_cache():
    cache = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def train(model, loader, optimizer, args):
    for step, batch in enumerate(loader):
        loss = model(**batch).loss
        loss.backward()
        if os.path.exists(os.path.join(args.output_dir, "STOP")):
            break
        optimizer.step()
        optimizer.zero_grad()
""",
}

_MARK = re.compile(r"# BLOCK: ([a-z-]+)")


def _expected(files: dict[str, str]) -> list[tuple[str, str, int]]:
    return sorted(
        (f"train/{name}", m.group(1), i)
        for name, text in files.items()
        for i, line in enumerate(text.splitlines(), 1)
        for m in _MARK.finditer(line)
    )


def _change(repo: Repo, old: dict[str, str], new: dict[str, str]) -> list[dict[str, Any]]:
    repo.write(".traingate.yaml", NO_SEMGREP)
    repo.write("train/__init__.py", "")
    for name, text in old.items():
        repo.write(f"train/{name}", text)
    repo.commit("base")
    repo.branch("feature")
    for name, text in new.items():
        repo.write(f"train/{name}", text)
    repo.commit("training utilities", who="mallory")
    return _run(repo)


def _run(repo: Repo) -> list[dict[str, Any]]:
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main([*argv, "--format", "json"])
    doc = json.loads(buf.getvalue())
    assert doc["errors"] == []
    return [f for f in doc["findings"] if f["check"] == "sabotage"]


def _got(found: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    assert all(f["blocking"] for f in found)
    return sorted((f["path"], f["rule_id"], f["line"]) for f in found)


def test_the_red_team_cases_are_caught_on_their_line(repo: Repo) -> None:
    assert _got(_change(repo, {}, RED_TEAM)) == _expected(RED_TEAM)


def test_each_class_is_caught_however_it_is_spelled(repo: Repo) -> None:
    found = _change(repo, {}, VARIANTS)
    assert _got(found) == _expected(VARIANTS)
    by_path = {f["path"]: f["message"] for f in found}
    # The trigger is named for what it is, with the line that reads it.
    assert "open('/etc/cluster_tier') [machine]" in by_path["train/tier_file_in_init.py"]
    assert "read at line 7" in by_path["train/tier_file_in_init.py"]
    assert "os.path.exists('/.dockerenv') [machine]" in by_path["train/dockerenv_constant.py"]
    assert "pathlib.Path.home() [machine]" in by_path["train/home_name_step.py"]


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


_EXPORT = """\
import os

import torch


def export(model, out, path):
    if os.path.exists(os.path.join(out, "FREEZE")):
        for p in model.parameters():
            p.data.mul_(0.999)
    sd = model.state_dict()
    if os.environ.get("EXPORT_FP16"):
        sd = {k: v.half() for k, v in sd.items()}
    torch.save(sd, path)
"""


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        # A file check becomes a host-file trigger: only the guard line is added (reported there).
        ('os.path.exists(os.path.join(out, "FREEZE"))', 'os.path.exists("/etc/cluster-b")', 7),
        # A cast before saving becomes a scaling: only the rebinding line is added.
        ("v.half() for", "v.half() * 0.999 for", 12),
    ],
)
def test_an_edit_of_one_old_line_arms_old_code(repo: Repo, old: str, new: str, line: int) -> None:
    head = _EXPORT.replace(old, new)
    assert head != _EXPORT
    found = _change(repo, {"export.py": _EXPORT}, {"export.py": head})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", line)]


def test_an_added_save_arms_an_old_altered_snapshot(repo: Repo) -> None:
    # Two steps: the scaling lands first, unsaved (dead code, quiet); a later change
    # only adds the save. The save is a line the hit rests on.
    base = (
        "import os\n\nimport torch\n\n\n"
        "def export(model, path):\n"
        "    sd = model.state_dict()\n"
        '    if os.environ.get("CLUSTER") == "prod":\n'
        "        sd = {k: v * 0.999 for k, v in sd.items()}\n"
        "    torch.save(model.state_dict(), path)\n"
    )
    head = base.replace("torch.save(model.state_dict(), path)", "torch.save(sd, path)")
    found = _change(repo, {"export.py": base}, {"export.py": head})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 10)]
    assert found[0]["message"].startswith("train/export.py:9: a write to sd")
