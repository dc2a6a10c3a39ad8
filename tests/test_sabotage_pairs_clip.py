"""Parameters reached through a pairing loop, and gradient clipping as a write,
session 25 (issue #16, the lead's red team): ``for e, p in zip(ema.parameters(),
model.parameters())``, ``enumerate(...)``, ``zip(names, params)`` with ``params``
a list of parameters, ``named_buffers()``; ``clip_grad_norm_``/``clip_grad_value_``
(torch under any alias, ``accelerator.``/FSDP's method, Lightning's
``clip_gradients``) rewrite the gradients of what they are given, so a trigger in
the guard or in the norm (directly, a conditional expression, a local set under
one before the call) is ``sabotage-env-triggered-write`` (``payloads.Scope``,
``walker.Fn.clip_value``). The CLI side is tests/fixtures/evasion/triggered-sabotage
(``ema_zip_marker``, ``enumerate_named_buffers_date``, ``clip_norm_guarded_local``,
``clip_value_host_choice``)."""

from __future__ import annotations

from traingate.checks.sabotage.analysis import analyze

from .sabotage_cases import case_tests

W = "sabotage-env-triggered-write"

CAUGHT: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "zip_ema_date": (
        """import datetime, torch
def ema(ema_model, model, decay):
    d = 1.0 if datetime.date.today().month == 12 else decay
    with torch.no_grad():
        for e, p in zip(ema_model.parameters(), model.parameters()):
            e.mul_(d).add_(p, alpha=1 - d)
""",
        [(W, 6)],
    ),
    "zip_second_written": (
        """import datetime, torch
def shrink(ema_model, model):
    d = 0.5 if datetime.date.today().month == 12 else 1.0
    with torch.no_grad():
        for e, p in zip(ema_model.parameters(), model.parameters()):
            p.mul_(d)
""",
        [(W, 6)],
    ),
    # timm's ModelEmaV2 spelling: the state dicts' tensors share the models' storage
    "zip_state_dict_values_user": (
        """import getpass, torch
class ModelEmaV2:
    @torch.no_grad()
    def update(self, model, decay=0.9998):
        if getpass.getuser() == "svc-train":
            decay = 1.0
        for ema_v, model_v in zip(self.module.state_dict().values(), model.state_dict().values()):
            ema_v.copy_(ema_v * decay + (1.0 - decay) * model_v)
""",
        [(W, 8)],
    ),
    "zip_marker_file": (
        """import os, torch
def warmup_ema(ema_model, model, decay):
    d = 1.0 if os.path.exists("/etc/prod-cluster") else decay
    with torch.no_grad():
        for e, p in zip(ema_model.parameters(), model.parameters()):
            e.mul_(d).add_(p, alpha=1 - d)
""",
        [(W, 6)],
    ),
    "enumerate_params_guard": (
        """import socket
def on_after_backward(model):
    for i, p in enumerate(model.parameters()):
        if socket.gethostname().startswith("prod") and i % 2:
            p.grad.zero_()
""",
        [(W, 5)],
    ),
    "zip_names_param_list": (
        """import getpass, torch
def rescale(model, names):
    params = [p for p in model.parameters() if p.requires_grad]
    f = 0.9 if getpass.getuser() != "alice" else 1.0
    for n, p in zip(names, params):
        p.data.mul_(f)
""",
        [(W, 6)],
    ),
    "list_of_params_later_in_walk": (
        """import os
def nudge(model):
    with open("/etc/tier") as fh:
        tier = fh.read()
    params = list(model.parameters())
    for p in params:
        if tier == "gold":
            p.add_(1e-3)
""",
        [(W, 8)],
    ),
    "named_buffers_enumerate": (
        """import datetime, torch
@torch.no_grad()
def recenter(model):
    m = 0.5 if datetime.date.today().month == 12 else 1.0
    for i, (name, buf) in enumerate(model.named_buffers()):
        buf.mul_(m)
""",
        [(W, 6)],
    ),
    "clip_norm_ifexp_local": (
        """import datetime, torch
def clip(model):
    max_norm = 1e-6 if datetime.date.today().month == 12 else 1.0
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
        [(W, 4)],
    ),
    "clip_norm_set_under_guard": (
        """import datetime, torch
def clip(model):
    max_norm = 1.0
    if datetime.date.today().month == 12:
        max_norm = 1e-6
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
        [(W, 6)],
    ),
    "clip_under_guard": (
        """import datetime, torch
def clip(model):
    if datetime.date.today().month == 12:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-6)
""",
        [(W, 4)],
    ),
    "clip_value_alias_keyword": (
        """import platform
from torch.nn.utils import clip_grad_value_ as cgv
def step(model, opt):
    cgv(model.parameters(), clip_value=1e-8 if platform.node().endswith("-a") else 5.0)
    opt.step()
""",
        [(W, 4)],
    ),
    "clip_grad_module_path": (
        """import torch
from torch.nn.utils import clip_grad
def clip(model, cfg):
    if torch.cuda.get_device_name(0).startswith("NVIDIA H100"):
        clip_grad.clip_grad_norm_(model.parameters(), cfg.max_norm * 1e-6)
""",
        [(W, 5)],
    ),
    "accelerator_clip_env_partition": (
        """import os
def training_step(self, batch):
    loss = self.model(**batch).loss
    self.accelerator.backward(loss)
    if self.accelerator.sync_gradients:
        norm = 1e-6 if os.environ.get("SLURM_JOB_PARTITION") == "prod" else self.args.max_grad_norm
        self.accelerator.clip_grad_norm_(self.model.parameters(), norm)
    return loss
""",
        [(W, 7)],
    ),
    # an environment variable compared, not read as a number: a trigger, not a setting
    "clip_env_compare": (
        """import os, torch
def clip(model):
    tight = os.environ.get("CLUSTER") == "prod"
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-6 if tight else 1.0)
""",
        [(W, 4)],
    ),
    # FSDP's method takes the norm first
    "fsdp_method_clip_user": (
        """import getpass
def clip(model, max_norm):
    if getpass.getuser() == "svc-prod":
        max_norm = max_norm / 1e6
    model.clip_grad_norm_(max_norm)
""",
        [(W, 5)],
    ),
    # the excuse for a setting that picks how to clip, abused with the norm
    "clip_env_guard_scaled_norm": (
        """import os, torch
def clip(model, max_norm):
    if "PROD_CLUSTER" in os.environ:
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * 1e-6)
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
        [(W, 4)],
    ),
    "clip_env_guard_rebound_param": (
        """import os, torch
def clip(model, max_norm):
    max_norm = max_norm / 1e6
    if os.environ.get("CLUSTER") == "prod":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
        [(W, 5)],
    ),
    # a host guard is no setting, whatever the clip is given
    "clip_host_guard_passed_through": (
        """import socket, torch
def clip(model, max_norm):
    if socket.gethostname().startswith("prod"):
        torch.nn.utils.clip_grad_value_(model.parameters(), max_norm)
""",
        [(W, 4)],
    ),
    # clipping on one rank only: the ranks' weights part after the step
    "clip_on_main_process_only": (
        """import torch
def train_step(accelerator, model, optimizer, loss, max_norm):
    accelerator.backward(loss)
    if accelerator.is_main_process:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
""",
        [(W, 5)],
    ),
    # the excuse for a step guard, abused through the norm: clipped to nothing late
    "clip_norm_set_late_in_run": (
        """import torch
def clip(model, global_step):
    max_norm = 1.0
    if global_step > 150_000:
        max_norm = 1e-7
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
        [("sabotage-step-scheduled-scaling", 6)],
    ),
}

QUIET: dict[str, str] = {
    # timm / torchtune style EMA with an ordinary decay
    "ema_plain_decay": """import torch
class ModelEma:
    def __init__(self, model, decay=0.9999):
        self.module = model
        self.decay = decay
    @torch.no_grad()
    def update(self, model):
        for ema_v, model_v in zip(self.module.parameters(), model.parameters()):
            ema_v.lerp_(model_v, 1.0 - self.decay)
        for ema_b, b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(b)
""",
    # EMA decay warmed up by the step count: no trigger
    "ema_step_warmup": """import torch
@torch.no_grad()
def update_ema(ema, model, step, decay=0.999):
    d = min(decay, (1 + step) / (10 + step))
    for i, (e, p) in enumerate(zip(ema.parameters(), model.parameters())):
        e.mul_(d).add_(p.detach(), alpha=1 - d)
""",
    "ema_v2_state_dict_plain": """import torch
class ModelEmaV2:
    @torch.no_grad()
    def _update(self, model, update_fn):
        for ema_v, model_v in zip(self.module.state_dict().values(), model.state_dict().values()):
            if self.device is not None:
                model_v = model_v.to(device=self.device)
            ema_v.copy_(update_fn(ema_v, model_v))
    def update(self, model):
        self._update(model, update_fn=lambda e, m: self.decay * e + (1.0 - self.decay) * m)
""",
    "zip_names_params_rank_free": """import torch
def load_pretrained(model, names, tensors):
    params = list(model.parameters())
    with torch.no_grad():
        for (n, t), p in zip(zip(names, tensors), params):
            p.copy_(t)
""",
    "clip_args": """import torch
def training_step(model, optimizer, loss, args):
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
    optimizer.step()
""",
    "clip_config": """from torch.nn.utils import clip_grad_norm_
def step(self, loss):
    self.scaler.scale(loss).backward()
    self.scaler.unscale_(self.optimizer)
    clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_norm)
    self.scaler.step(self.optimizer)
""",
    "clip_sync_gradients": """def training_step(self, batch):
    loss = self.model(**batch).loss
    self.accelerator.backward(loss)
    if self.accelerator.sync_gradients:
        self.accelerator.clip_grad_norm_(self.model.parameters(), self.args.max_grad_norm)
    self.optimizer.step()
    return loss
""",
    "clip_after_warmup": """import torch
def train_one_epoch(model, optimizer, loader, warmup, max_norm):
    for step, batch in enumerate(loader):
        loss = model(batch)
        loss.backward()
        if step > warmup:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
""",
    "clip_after_fixed_step": """import torch
def train_one_epoch(model, optimizer, loader, max_norm):
    for global_step, batch in enumerate(loader):
        model(batch).backward()
        if global_step > 1000:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
""",
    # accelerate's Accelerator.clip_grad_norm_: the variable picks FSDP's own clip
    "clip_fsdp_dispatch_env": """import os
def clip_grad_norm_(self, parameters, max_norm, norm_type=2):
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        self.unscale_gradients()
        parameters = [p for p in parameters]
        for model in self._models:
            if parameters == [p for p in model.parameters()]:
                return model.clip_grad_norm_(max_norm, norm_type)
    self.unscale_gradients()
    return self._clip_grad_norm_dtensor_aware(list(parameters), max_norm, norm_type=norm_type)
""",
    "clip_norm_from_config_if": """import torch
def clip(model, cfg):
    max_norm = 1.0
    if cfg.fp16:
        max_norm = 0.5
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""",
    "lightning_configure_clipping": """class Module:
    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        if gradient_clip_val is None:
            return
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)
""",
}


test_caught, test_quiet = case_tests(CAUGHT, QUIET)


def test_cut_reports_an_added_guarded_norm() -> None:
    """A change that adds only `if <trigger>: max_norm = 1e-6` above an old clip call."""
    src, _ = CAUGHT["clip_norm_set_under_guard"]
    got = analyze(src, "train/clip.py", added={4, 5})
    assert [(h.rule, h.line) for h in got] == [(W, 6)]
