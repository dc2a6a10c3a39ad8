"""The sabotage check (docs/checks/sabotage.md, issue #16 class 3).

Each attack writes training state, skips a step, enters a collective or exits
under a value derived from the environment, spelled as an insider would; each
must be reported on the line that does it, with the trigger named. Each
look-alike (rank-0 saving, setup barriers, warmup, clipping, gradient
accumulation, DEBUG prints, time budgets) must stay quiet, and so must every
relaxation's abuse be caught. Every run is the real CLI on a real repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import POLICY, Repo

NO_SEMGREP = POLICY + "checks:\n  semgrep: {enabled: false}\n"

ATTACKS = """\
import getpass
import os
import platform
import socket
import sys
import time
from datetime import datetime as _clock
from os import environ as _e

import torch
import torch.distributed as dist

_NODE = platform.node()


class Module:
    def __init__(self):
        self._tier = _e.get("SLURM_JOB_PARTITION", "dev")
        self.scale = 0.1 if socket.getfqdn().endswith(".prod") else 1.0

    def on_after_backward(self):
        if self._tier.startswith("prod"):
            for p in self.parameters():
                p.grad[:, ::7].zero_()

    def training_step(self, batch, batch_idx):
        loss = self.model(batch)
        loss = loss * self.scale
        if self.global_step > 5000:
            loss = loss * 0.02
        if self.trainer.global_rank == 3:
            dist.barrier()
        return loss


def train(model, loader, optimizer):
    for step, batch in enumerate(loader):
        model(batch).backward()
        if _NODE.endswith(".internal") and step % 3:
            continue
        optimizer.step()


def lr_edit(optimizer):
    if os.getenv("SLURM_JOB_NAME", "").startswith("final"):
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * 8


def deadline(trainer):
    if _clock.now().month >= 9:
        sys.exit(0)


def post(model, rank):
    if rank == 3:
        for p in model.parameters():
            p.grad.mul_(0.5)


def multi(model, world_size):
    if world_size > 1:
        for p in model.parameters():
            p.data.mul_(0.9)


def bomb(model):
    if time.time() - 0 > 1788000000:
        for p in model.parameters():
            p.data.add_(0.01)


def who(grad):
    return grad * 0.05 if getpass.getuser() == "svc" else grad


def hook(model):
    for p in model.parameters():
        p.register_hook(who)


def sync_stats(stats, rank):
    if rank == 5:
        dist.barrier()


def bomb2(model, offset):
    if time.time() - offset > 1788000000:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def sync_all(rank):
    dist.barrier()
    if rank == 3:
        dist.barrier()


_DECAY_AFTER = 20_000


def finalize(model, global_step):
    if global_step > _DECAY_AFTER:
        for p in model.parameters():
            p.grad.mul_(0.1)
"""

# (rule, line) that must fire in train/attacks.py: every relaxation's abuse included.
EXPECTED_ATTACKS = [
    ("sabotage-env-triggered-write", 24),  # SLURM partition from __init__, strided slice
    ("sabotage-env-triggered-write", 28),  # loss scaled by a host-derived attribute
    ("sabotage-step-scheduled-scaling", 30),
    ("sabotage-triggered-collective", 32),  # one rank in a barrier, in training_step
    ("sabotage-triggered-skip-step", 40),  # continue before optimizer.step()
    ("sabotage-env-triggered-write", 47),  # lr through the param_groups loop variable
    ("sabotage-triggered-exit", 52),  # sys.exit(0) on a date
    ("sabotage-env-triggered-write", 58),  # rank guard on gradients outside the step
    ("sabotage-env-triggered-write", 64),  # world_size > 1 guard, write not by the size
    ("sabotage-env-triggered-write", 70),  # time.time() - 0 is still the date
    ("sabotage-env-triggered-write", 74),  # gradient hook returns a user-scaled gradient
    ("sabotage-triggered-collective", 84),  # a lone rank-guarded barrier in a helper
    ("sabotage-triggered-exit", 89),  # a clock value against epoch seconds is a date
    ("sabotage-triggered-collective", 95),  # an unconditional barrier is no partner
    ("sabotage-step-scheduled-scaling", 104),  # the step threshold is a module constant
]

BENIGN = """\
import logging
import logging.handlers
import math
import os
import time

import torch
import torch.distributed as dist


def save(model, rank, path):
    if rank == 0:
        torch.save(model.state_dict(), path)


def setup(world_size, local_rank):
    if world_size > 1:
        dist.barrier()
    if local_rank not in (-1, 0):
        dist.barrier()
    data = load()
    if local_rank == 0:
        dist.barrier()
    return data


def train(model, loader, optimizer, args, accelerator, base_lr, warmup, max_seconds):
    start = time.time()
    lr0 = float(os.environ.get("LR", "1e-4"))
    for step, batch in enumerate(loader):
        if time.time() - start > max_seconds:
            break
        lr = lr0 * min(1.0, step / warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr
        loss = model(**batch).loss
        loss = loss / args.gradient_accumulation_steps
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if args.world_size > 1:
            for p in model.parameters():
                p.grad.div_(args.world_size)
        if os.environ.get("DEBUG"):
            print(loss.item())
        if accelerator.is_main_process:
            logging.info("step %d loss %.3f", step, loss.item())
        optimizer.step()
        optimizer.zero_grad()


def schedule(optimizer, epoch):
    if epoch > 300:
        for g in optimizer.param_groups:
            g["lr"] *= 0.1


def report(writer, eval_loss, step):
    writer.add_scalar("eval/ppl", math.exp(min(eval_loss, 20)), step)


handler = logging.handlers.SysLogHandler(address="/dev/log")


def wait_ready(client, timeout, heartbeat):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.ready():
            return
    if time.time() - heartbeat.value > timeout:
        raise RuntimeError("worker heartbeat stale")
    raise TimeoutError("server not ready")


def search(args, run):
    # rank 0 runs the search and broadcasts from its callback; the others follow.
    if args.process_index == 0:

        def objective(trial):
            dist.broadcast_object_list([trial], src=0)

        run(objective)
    else:
        for _ in range(args.n_trials):
            dist.broadcast_object_list([None], src=0)


def log_in_order(state, in_order, should_log, msg):
    if not in_order and should_log(state.is_main_process):
        print(msg)
    elif in_order:
        for i in range(state.num_processes):
            if i == state.process_index:
                print(msg)
            state.wait_for_everyone()


def scaled_loss(model, batch, accelerator):
    loss = model(**batch).loss
    loss *= accelerator.num_processes
    if loss is not None:
        loss = loss.mean()
    return loss


def init_distributed(world_size):
    dist.init_process_group("nccl")
    if world_size > 1:
        dist.barrier()
"""

EGRESS = """\
import logging
import logging.config
import logging.handlers
from logging.handlers import HTTPHandler as _H

import wandb

log = logging.getLogger(__name__)
log.addHandler(_H("metrics.example.net", "/ingest", method="POST"))


def log_step(loss):
    shown = min(loss.item(), 2.5)
    wandb.log({"train/loss": shown})


def configure():
    log.addHandler(logging.handlers.SysLogHandler(address=("logs.example.net", 514)))
    logging.config.dictConfig(
        {"version": 1, "handlers": {"h": {"class": "logging.handlers.SocketHandler"}}}
    )
"""


def _check(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    code = main([*argv, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, [f for f in doc["findings"] if f["check"] == "sabotage"]


def _lines(findings: list[dict[str, Any]], path: str) -> list[tuple[str, int]]:
    return sorted((f["rule_id"], f["line"]) for f in findings if f["path"] == path)


def _base(repo: Repo, files: dict[str, str]) -> Repo:
    repo.write(".traingate.yaml", NO_SEMGREP)
    repo.write("train/__init__.py", "")
    for path, text in files.items():
        repo.write(path, text)
    repo.commit("base")
    repo.branch("feature")
    return repo


def test_attacks_fire_and_look_alikes_stay_quiet(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(repo, {})
    repo.write("train/attacks.py", ATTACKS)
    repo.write("train/benign.py", BENIGN)
    repo.write("train/egress.py", EGRESS)
    repo.commit("training utilities", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert _lines(found, "train/attacks.py") == sorted(EXPECTED_ATTACKS)
    assert _lines(found, "train/benign.py") == []
    assert _lines(found, "train/egress.py") == [
        ("sabotage-clamped-metric", 14),
        ("sabotage-log-handler-egress", 9),  # HTTPHandler through an alias
        ("sabotage-log-handler-egress", 18),  # SysLogHandler to a remote host
        ("sabotage-log-handler-egress", 20),  # dictConfig names the class as a string
    ]
    msg = next(f["message"] for f in found if f["line"] == 24)
    assert "os.environ.get('SLURM_JOB_PARTITION')" in msg and "read at line 18" in msg
    assert all(f["blocking"] for f in found)


def test_a_trigger_moved_into_an_old_guard_is_reported_on_the_guard(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    old = (
        "import socket\n\n\ndef post(model, world_size):\n"
        "    if world_size > 1:\n"
        "        for p in model.parameters():\n"
        "            p.grad.div_(world_size)\n"
    )
    _base(repo, {"train/post.py": old})
    repo.write("train/post.py", old.replace("world_size > 1", 'socket.gethostname() == "gpu7"'))
    repo.commit("tweak", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert _lines(found, "train/post.py") == [("sabotage-env-triggered-write", 5)]
    assert found[0]["message"].startswith("train/post.py:7: p.grad.div_(...) runs only when")


def test_old_code_is_not_reported_again(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    _base(repo, {"train/attacks.py": ATTACKS})
    repo.write("train/attacks.py", ATTACKS + "\n\ndef unrelated():\n    return 1\n")
    repo.commit("more", who="mallory")
    _code, found = _check(repo, capsys)
    assert found == []


def test_notebook_cells_are_judged_with_lines_in_the_json(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    _base(repo, {})
    cell = ["import os\n", 'if os.environ.get("CLUSTER") == "prod":\n', "    loss = loss * 0\n"]
    nb = {"cells": [{"cell_type": "code", "source": cell, "metadata": {}, "outputs": []}]}
    repo.write("train/nb.ipynb", json.dumps(nb, indent=1) + "\n")
    repo.commit("nb", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    [f] = found
    assert f["rule_id"] == "sabotage-env-triggered-write"
    text = (repo.path / "train" / "nb.ipynb").read_text().splitlines()
    assert "loss = loss * 0" in text[f["line"] - 1]


def test_the_check_reads_blobs_and_never_imports_them(tmp_path: Path) -> None:
    from traingate.checks.sabotage.analysis import analyze

    marker = tmp_path / "ran"
    src = f"open({str(marker)!r}, 'w').write('x')\nimport os\nif os.getenv('X'):\n    loss = 0\n"
    assert [h.rule for h in analyze(src)] == ["sabotage-env-triggered-write"]
    assert not marker.exists()


SCHEDULE = """\
import datetime

_RELEASE = datetime.date(2026, 9, 1)


def curriculum_complete() -> bool:
    return datetime.date.today() >= _RELEASE


def perturb_(t, scale):
    return t.add_(torch.randn_like(t) * scale)


def init_(t):
    return t.normal_()
"""

CALLER = """\
from train.schedule import init_
from .schedule import curriculum_complete, perturb_ as _p


def on_epoch_start(model):
    if curriculum_complete():
        raise RuntimeError("NCCL error: unhandled system error")
    for p in model.parameters():
        _p(p.grad, 0.05)
        init_(p)
        init_(p.data)
"""


def test_a_trigger_or_noise_one_import_away_is_followed(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The helper is old (base) and harmless alone; only the caller is added.
    _base(repo, {"train/schedule.py": "import torch\n" + SCHEDULE})
    repo.write("train/callbacks.py", CALLER)
    repo.commit("callbacks", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert _lines(found, "train/callbacks.py") == [
        ("sabotage-random-write-via-helper", 9),
        ("sabotage-triggered-exit", 7),
    ]
    exit_msg = next(f["message"] for f in found if f["line"] == 7)
    assert "train/schedule.py:8 reads datetime.date.today()" in exit_msg
    # init_(p): a random fill of parameters is weight initialisation, not judged.
    assert _lines(found, "train/schedule.py") == []


def test_a_file_too_deep_for_the_walk_blocks_unjudged(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attacker pads a triggered write's file with one expression Python
    parses but the analysis cannot walk (a 1,000-term sum): the file is not
    silently skipped, it blocks as sabotage-incomplete."""
    _base(repo, {})
    pad = " + ".join(["x"] * 1000)
    repo.write(
        "train/loop.py",
        "import os\n\n\ndef train(model, x):\n"
        f"    y = {pad}\n"
        "    if os.environ.get('HOST') == 'gpu-07':\n        model.weight.data.zero_()\n"
        "    return y\n",
    )
    repo.commit("loop", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1
    assert [(f["rule_id"], f["path"], f["blocking"]) for f in found] == [
        ("sabotage-incomplete", "train/loop.py", True)
    ]
    # Shallow enough, the same file is judged: the payload itself is found.
    loop = repo.path / "train" / "loop.py"
    repo.write("train/loop.py", loop.read_text().replace(pad, " + ".join(["x"] * 50)))
    repo.commit("shorter", who="mallory")
    code, found = _check(repo, capsys)
    assert code == 1 and [f["rule_id"] for f in found] == ["sabotage-env-triggered-write"]
