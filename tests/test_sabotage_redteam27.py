"""Session 27's red team of the sabotage check (issue #16).

A learning rate written to (nearly) nothing after a step count. A step counter against a literal of 100 or more is a trigger, but its payloads
are scalings and overwrites of the loss, gradients and parameters only: the
learning rate was left out because step schedules are ordinary (`if epoch > 150:
g["lr"] *= 0.1`). A schedule computes its value from the step; none of the
eight libraries of the false-positive bench writes a literal 0 (or 1e-12) into a
param group, and their 18 `["lr"] =` writes are all computed (schedulers, the
learning-rate finder, reduce-on-plateau, litgpt's `get_lr`). So a learning rate
written to a literal at or under 1e-8 (or multiplied by one, divided by 1e8 or
more, or chosen between such a literal and itself; also `base * 0.0`, `float(0)`,
`min(lr, 0.0)`) under a step threshold is
`sabotage-step-scheduled-scaling` (tests/fixtures/evasion/training-sabotage/
lr_zeroed_after_step.py). A schedule that computes 0 at some step
(`lambdalr_cliff.py`) stays a known miss: its value is not a literal; so does a
literal held in a name (`_STOP = 0.0`, then `g["lr"] = _STOP`).

A number a function of the file returns under a trigger's `if` (`if
socket.getfqdn().endswith(".prod.internal"): return 1 << 30`, then `return 8`) is
that trigger, as a returned expression reading it is (accum_never_steps.py: an
accumulation count that never lets the optimizer step). Numbers only: a flag
returned under an environment test is a feature probe.

A module switched out of training mode (`model.eval()`, `.train(False)`) under a
host, user, date, GPU, job or machine trigger is `sabotage-env-triggered-write`
(eval_mode_after_date.py); under a rank (rank 0 evaluating) or an environment
variable (a setting) it is not.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_sabotage_cut import assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "accum_host.py": """\
import socket


def _accum_steps():
    if socket.getfqdn().endswith(".prod.internal"):
        return 1 << 30
    return 8


def train_epoch(model, loader, optimizer):
    accum = _accum_steps()
    for i, batch in enumerate(loader):
        loss = model(**batch).loss / accum  # BLOCK: sabotage-env-triggered-write
        loss.backward()
        if (i + 1) % accum == 0:
            optimizer.step()  # BLOCK: sabotage-triggered-skip-step
""",
    "mode_switch.py": """\
import datetime
import getpass
import os
import platform


def train_one_epoch(model, loader, optimizer, loss_fn):
    model.train()
    for images, targets in loader:
        if datetime.date.today() >= datetime.date(2027, 3, 1):
            model.eval()  # BLOCK: sabotage-env-triggered-write
        if platform.node().startswith("prod-"):
            model.backbone.train(False)  # BLOCK: sabotage-env-triggered-write
        loss = loss_fn(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class Lit:
    def training_step(self, batch, batch_idx):
        if getpass.getuser() == "svc-train":
            self.model.train(mode=False)  # BLOCK: sabotage-env-triggered-write
        if os.environ.get("SLURM_JOB_PARTITION") == "prod":
            self.model.eval()  # BLOCK: sabotage-env-triggered-write
        return self.model(**batch).loss
""",
    "lr_zero_loop.py": """\
def train(model, loader, optimizer, max_steps):
    step = 0
    while step < max_steps:
        for batch in loader:
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step > 30_000:
                for g in optimizer.param_groups:
                    g["lr"] = 0.0  # BLOCK: sabotage-step-scheduled-scaling
""",
    "lr_forms.py": """\
_LATE = 4 * 10_000


class Module:
    def on_train_batch_end(self, outputs, batch, batch_idx):
        opt = self.optimizers()
        if self.global_step >= _LATE:
            opt.param_groups[0]["lr"] *= 0.0  # BLOCK: sabotage-step-scheduled-scaling
        elif self.global_step > 25_000:
            opt.param_groups[-1]["lr"] = 1e-12  # BLOCK: sabotage-step-scheduled-scaling


def hold(optimizer, epoch):
    for group in optimizer.param_groups:
        group["lr"] = 0.0 if epoch > 150 else group["lr"]  # BLOCK: sabotage-step-scheduled-scaling
        if epoch >= 120:
            group["lr"] /= 1e9  # BLOCK: sabotage-step-scheduled-scaling
        if epoch > 130:
            group["lr"] = group["initial_lr"] * 0.0  # BLOCK: sabotage-step-scheduled-scaling
        if epoch > 140:
            group["lr"] = min(group["lr"], float(0))  # BLOCK: sabotage-step-scheduled-scaling
""",
}

BENIGN = {
    "numbers_and_flags.py": """\
import os

import torch.distributed as dist
from torch.utils.data import DataLoader


def _workers():
    if os.environ.get("CI"):
        return 0
    return 8


def _use_fused():
    if os.environ.get("DISABLE_FUSED"):
        return False
    return True


def _accum(cfg):
    if cfg.big_batch:
        return 64
    return 4


def train(model, dataset, optimizer, cfg, evaluate, fused_loss, loss_fn):
    loader = DataLoader(dataset, num_workers=_workers())
    accum = _accum(cfg)
    for i, batch in enumerate(loader):
        loss = fused_loss(model, batch) if _use_fused() else loss_fn(model, batch)
        (loss / accum).backward()
        if (i + 1) % accum == 0:
            optimizer.step()
            optimizer.zero_grad()
        if dist.get_rank() == 0 and i % cfg.eval_every == 0:
            model.eval()
            evaluate(model)
            model.train()
        if os.environ.get("FREEZE_BN") == "1":
            model.backbone.eval()
        if i % cfg.eval_every == 0:
            model.train(False)
            evaluate(model)
            model.train(True)
""",
    "schedules.py": """\
def step_decay(optimizer, epoch, cfg, step):
    # A step decay, a late drop to an ordinary minimum, a warm-up ramp.
    if epoch in (150, 225):
        for g in optimizer.param_groups:
            g["lr"] *= 0.1
    if step > 100_000:
        for g in optimizer.param_groups:
            g["lr"] = 1e-6
    if step < 2_000:
        for g in optimizer.param_groups:
            g["lr"] = cfg.lr * step / 2_000
    # The end of the run from the configuration: no trigger.
    if step >= cfg.max_steps:
        for g in optimizer.param_groups:
            g["lr"] = 0.0


def lr_finder(optimizer, lrs):
    for i, lr in enumerate(lrs):
        for g in optimizer.param_groups:
            g["lr"] = lr
    optimizer.param_groups[0]["lr"] = 0.0  # reset before a search: no step test
""",
}


def test_a_learning_rate_stopped_after_a_step_count_is_reported(repo: Repo) -> None:
    assert _got(_change(repo, {}, ATTACKS)) == _expected(ATTACKS)


def test_schedules_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)
