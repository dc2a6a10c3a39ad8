"""Session 28's red team of the sabotage check (issue #16).

A name a top-level function binds is its local: ``walk_local(tree.body)``
enters top-level function bodies, and their bindings made a same-named local of
another function a trigger (``host = socket.gethostname()`` in a logging helper,
``host = cfg.master_addr`` in the loop). The module's names are now bound from
module code and from the functions that declare a ``global`` only
(``module.module_binders``); a trigger that really flows (a module name, a
``global``, a closure over the function's local) is still followed.

A training setting a trigger's test picks (chosen.py): an optimizer's,
scheduler's or loss's hyper-parameter chosen by a host, user, date, GPU, job or
machine test (``weight_decay=decay`` after ``if date.today() >= ...: decay =
10.0``, ``LambdaLR(opt, lambda s: scale * ...)``, ``label_smoothing`` in a dict
updated under the test, a helper returning such a dict). Not an environment
variable (a setting), not arithmetic with a count (the linear scaling rule).
Under the same triggers, a hook registered (``register_step_post_hook``) and an
accumulation count written (``accelerator.gradient_accumulation_steps``).
"""

from __future__ import annotations

import pytest

from traingate.checks.sabotage.analysis import analyze

from .conftest import Repo
from .test_sabotage_cut import assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "flows.py": """\
import socket

import torch

_HOST = None
_GPU = torch.cuda.get_device_name(0)


def setup_run():
    global _HOST
    _HOST = socket.gethostname()


def train_one_epoch(model, optimizer, loader):
    for batch in loader:
        loss = model(**batch).loss
        if _HOST.startswith("prod-"):
            loss = loss * 0.0  # BLOCK: sabotage-env-triggered-write
        if "H100" in _GPU:
            loss = loss * 0.5  # BLOCK: sabotage-env-triggered-write
        loss.backward()
        optimizer.step()


def fit(model, optimizer, loader):
    host = socket.gethostname()

    def train_step(batch):
        loss = model(**batch).loss
        if host.endswith(".prod.internal"):
            loss = loss * 0.0  # BLOCK: sabotage-env-triggered-write
        loss.backward()
        optimizer.step()

    for batch in loader:
        train_step(batch)
""",
    "settings.py": """\
import datetime
import getpass
import platform

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR


def build_optimizer(model, cfg):
    late = datetime.date.today() >= datetime.date(2027, 3, 1)
    mom = 0.0 if late else 0.9
    return torch.optim.SGD(model.parameters(), cfg.lr, mom)  # BLOCK: sabotage-env-triggered-write


def build_schedule(optimizer, warmup):
    factor = 1.0
    if getpass.getuser() == "svc-train":
        factor = 0.0
    return LambdaLR(optimizer, lambda s: factor * min(1.0, s / warmup))  # BLOCK: sabotage-env-triggered-write


def training_step(model, batch):
    kwargs = {"ignore_index": -100}
    if platform.node().startswith("gpu-prod"):
        kwargs["reduction"] = "sum"
    logits = model(batch["input_ids"])
    return F.cross_entropy(logits, batch["labels"], **kwargs)  # BLOCK: sabotage-env-triggered-write


class Callback:
    def on_train_begin(self, args, state, control, **kwargs):
        if datetime.datetime.now().month >= 6:
            args.gradient_accumulation_steps = 10**9  # BLOCK: sabotage-env-triggered-write


def attach(model, log_hook):
    if "A100" in torch.cuda.get_device_name():
        model.register_forward_hook(log_hook)  # BLOCK: sabotage-env-triggered-write


def build_by_gpu(model, cfg):
    scale = 0.0 if "H100" in torch.cuda.get_device_name() else 1.0
    lr = cfg.lr * scale  # BLOCK: sabotage-env-triggered-write
    opt = torch.optim.AdamW(model.parameters(), lr=lr)  # `lr` is state: judged where written
    if torch.cuda.get_device_capability()[0] >= 9:
        opt = torch.optim.AdamW(model.parameters(), lr=10.0)  # BLOCK: sabotage-env-triggered-write
    return opt


def polish(optimizer):
    if platform.node().endswith(".prod"):
        for g in optimizer.param_groups:
            g["lr"] = 1e-7  # BLOCK: sabotage-env-triggered-write
""",
    # the lead's pass: a gradient hook that scales what it is handed after a
    # step count (the loop's own `if step > N: p.grad.mul_(0)` was caught)
    "grad_hooks.py": """\
class GradGuard:
    def __init__(self, model, state):
        self.step = 0
        self.state = state
        for p in model.parameters():
            p.register_hook(self._hook)
            p.register_hook(lambda g: -g if state.global_step > 30000 else g)  # BLOCK: sabotage-step-scheduled-scaling

    def _hook(self, grad):
        if self.step > 20000:
            return grad * 0.0  # BLOCK: sabotage-step-scheduled-scaling
        return grad

    def tick(self):
        self.step += 1
""",
}

BENIGN = {
    "locals.py": """\
import logging
import socket

import torch

logger = logging.getLogger(__name__)


def log_environment():
    host = socket.gethostname()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    logger.info("training on %s (%s)", host, device)


def train_one_epoch(model, optimizer, loader, scaler, cfg):
    device = next(model.parameters()).device
    host = cfg.master_addr or "localhost"
    model.train()
    for step, batch in enumerate(loader):
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = model(**batch).loss
        if device.type == "cpu":
            loss = loss.float()
        if host != "localhost":
            loss = loss / cfg.world_size
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
""",
    "configs.py": """\
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.optim.lr_scheduler import LambdaLR


def build_optimizer(model, cfg):
    # The linear scaling rule, settings from the environment, a fused kernel
    # chosen by the GPU, eps by the precision.
    lr = cfg.lr * torch.cuda.device_count()
    wd = float(os.environ.get("WEIGHT_DECAY", cfg.weight_decay))
    eps = 1e-6 if cfg.bf16 else 1e-8
    if torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, eps=eps, fused=True)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, eps=eps)


def build_schedule(optimizer, cfg):
    warmup = int(os.environ.get("WARMUP_STEPS", cfg.warmup))
    return LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))


def compute_loss(model, batch, cfg):
    reduction = "sum" if os.environ.get("SUM_LOSS") else "mean"
    kwargs = {"label_smoothing": cfg.label_smoothing}
    if os.environ.get("IGNORE_PAD") == "1":
        kwargs["ignore_index"] = cfg.pad_token_id
    logits = model(batch["input_ids"])
    return F.cross_entropy(logits, batch["labels"], reduction=reduction, **kwargs)


def setup(model, accelerator, nan_hook, log_hook, cfg):
    if os.environ.get("ACCUM_STEPS"):
        accelerator.gradient_accumulation_steps = int(os.environ["ACCUM_STEPS"])
    if dist.is_initialized() and dist.get_world_size() > 1:
        model.register_comm_hook(None, default_hooks.fp16_compress_hook)
    if dist.get_rank() == 0:
        model.register_forward_hook(log_hook)
    if os.environ.get("DETECT_NANS"):
        model.register_forward_hook(nan_hook)
    if cfg.max_steps > 10_000:
        accelerator.gradient_accumulation_steps = 8
""",
    "hooks_ok.py": """\
import torch


class Guard:
    def __init__(self, model, max_norm):
        self.step = 0
        for p in model.parameters():
            p.register_hook(self._hook)
            p.register_hook(lambda g: torch.clamp(g, -max_norm, max_norm))

    def _hook(self, grad):
        if torch.isnan(grad).any():
            return torch.zeros_like(grad)
        if self.step > 20000:
            return grad.clamp(-1.0, 1.0)
        return grad
""",
}


def test_attacks_are_caught_on_their_line(repo: Repo) -> None:
    assert _got(_change(repo, {}, ATTACKS)) == _expected(ATTACKS)


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


def test_a_top_level_functions_local_is_no_module_name() -> None:
    # The same name bound from a trigger in one function is not read in another
    # (it would raise NameError there), unless declared global.
    source = BENIGN["locals.py"]
    assert analyze(source, "train/locals.py") == []
    shared = source.replace(
        "def log_environment():\n", "def log_environment():\n    global host\n"
    ).replace('    host = cfg.master_addr or "localhost"\n', "")
    rules = {h.rule for h in analyze(shared, "train/locals.py")}
    assert rules == {"sabotage-env-triggered-write"}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)
