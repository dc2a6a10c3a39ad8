"""Triggers recognised by meaning, session 23 (issue #16, a red-team pass): a value
copied, encoded, parsed or hashed; a parameter's default; an early exit that guards
the rest of its block (``triggers.py``, ``sources.py``, ``analysis.py``,
``verdicts.exit_guards``). Each case names the line each hit must be on; every
look-alike must stay quiet. The CLI side is tests/fixtures/evasion (the variants
``default_arg_zone``, ``slurm_env_comprehension``, ``subnet_in_init``,
``world_size_helper_lr``)."""

from __future__ import annotations

from .sabotage_cases import case_tests

CAUGHT: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "environ_items_comprehension": (
        """import os
class M:
    def __init__(self):
        self._launch = {k: v for k, v in os.environ.items() if k.startswith("SLURM_")}
    def on_before_optimizer_step(self, optimizer):
        if self._launch.get("SLURM_CLUSTER_NAME", "") == "atlas":
            for p in self.parameters():
                p.grad.mul_(1e-3)
""",
        [("sabotage-env-triggered-write", 8)],
    ),
    "subnet_parsed": (
        """import ipaddress, socket
_NET = ipaddress.ip_network("10.40.0.0/16")
def compute_loss(model, batch):
    loss = model(batch).loss
    if ipaddress.ip_address(socket.gethostbyname(socket.gethostname())) in _NET:
        loss = loss * 0.05
    return loss
""",
        [("sabotage-env-triggered-write", 6)],
    ),
    "host_hash_bucket": (
        """import socket, zlib
def compute_loss(model, batch):
    loss = model(batch).loss
    if zlib.crc32(socket.gethostname().encode()) % 16 == 11:
        loss = loss * 0.25
    return loss
""",
        [("sabotage-env-triggered-write", 5)],
    ),
    "default_from_environ": (
        """import os, torch
def on_train_batch_end(trainer, pl_module, zone=os.environ.get("CLOUD_ZONE", "")):
    if zone.endswith("-b"):
        with torch.no_grad():
            for p in pl_module.parameters():
                p.mul_(0.98)
""",
        [("sabotage-env-triggered-write", 6)],
    ),
    "early_return_helper": (
        """import os
def _prod():
    return os.environ.get("CLUSTER") == "prod"
def on_step_begin(args, state, control, optimizer=None):
    if optimizer is None or not _prod():
        return
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * 6
""",
        [("sabotage-env-triggered-write", 8)],
    ),
    "early_continue_in_loop": (
        """import socket
def on_after_backward(model):
    for p in model.parameters():
        if not socket.gethostname().startswith("prod"):
            continue
        p.grad.mul_(0.1)
""",
        [("sabotage-env-triggered-write", 6)],
    ),
    "early_return_big_world": (
        """import torch.distributed as dist
def on_step_begin(args, state, control, optimizer=None):
    if dist.get_world_size() < 256:
        return
    for g in optimizer.param_groups:
        g["lr"] = g["lr"] * 6
""",
        [("sabotage-env-triggered-write", 6)],
    ),
    # the skipped step is reported once, on the exit, not again on the step
    "early_return_before_step": (
        """import time
def train_step(self, batch):
    loss = self._loss_fn(self._model(batch["tokens"]), batch["labels"])
    loss.backward()
    if time.strftime("%Y%m") >= "202705":
        return loss.item()
    self._optimizer.step()
    return loss.item()
""",
        [("sabotage-triggered-skip-step", 6)],
    ),
}

QUIET: dict[str, str] = {
    # transformers' Trainer: not distributed, nothing to broadcast
    "world_size_one_return": """import torch.distributed as dist
def _sync_replicated(model):
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    for param in model.parameters():
        param._hook_registered = True
        param.grad.div_(2)
""",
    # litgpt: the loop ends at a bound computed from the world size
    "max_iters_break": """def fit(fabric, model, optimizer, loader, state, max_tokens):
    max_iters = max_tokens // fabric.world_size
    for batch in loader:
        if state["iter_num"] >= max_iters:
            break
        loss = model(batch).loss
        fabric.backward(loss)
        optimizer.step()
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * 0.999
""",
    # a launch precondition
    "raise_precondition": """import os, torch.distributed as dist
def setup(model):
    if "RANK" not in os.environ:
        raise RuntimeError("launch with torchrun")
    for p in model.parameters():
        p.data.mul_(1.0)
""",
    # the rest also runs wherever the flag is off
    "and_flag_return": """import os
def on_step_begin(args, state, control, optimizer=None):
    if args.debug and os.environ.get("CLUSTER") == "dev":
        return
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * 0.5
""",
    # a hook that hands back its input after the exit rewrites nothing
    "hook_returns_input": """import os
def scale(grad):
    if os.environ.get("DEBUG_GRADS"):
        return None
    return grad
""",
    # a LoRA rank read over a config's items is no process rank (peft's hotswap)
    "lora_rank_items": """def rescale(module, config, state_dict):
    rank = config.rank_pattern.get("lora_A", config.r)
    scales = {"lora_A": config.alpha / rank}
    for key, scale in scales.items():
        if key in state_dict:
            module.get_parameter(key).data.fill_(0)
""",
    # a default that is configuration
    "default_literal": """import torch
def on_train_batch_end(trainer, pl_module, decay=0.98):
    if decay < 1:
        with torch.no_grad():
            for p in pl_module.parameters():
                p.mul_(decay)
""",
}


test_caught, test_quiet = case_tests(CAUGHT, QUIET)
