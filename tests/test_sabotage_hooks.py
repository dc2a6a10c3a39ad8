"""A hook that rewrites what it returns only under a random draw (issue #16, session 10).

A forward hook, a forward pre-hook, a full backward hook or a tensor's gradient
hook runs inside the model, far from any training loop; a rewrite of its output
under ``random.random() < 0.01`` is rare, looks like noise and never
reproduces. The pack's ``trigger-random-draw-sabotage`` rule sees a draw
guarding the step, not a hook's ``return out * 0.9``; the sabotage check judged
hooks under environment triggers only. Now a draw guards a hook's write too:
``random``/``numpy.random``/``torch.rand*``/``secrets``/``uuid4``, a generator
object's ``random()``/``integers()``, a local name bound from one, or a
function of the file returning one.

Look-alikes that stay quiet: stochastic depth in ``forward`` (not a hook),
LayerDrop as a hook (in a hook that tests ``training``, the draw hands back the
block's input; without that test, skipping a module now and then is the
payload), dropout masks
and privacy noise (randomness in the value, under a config flag), sampled
logging in a hook (no write), augmentation in transforms.

Every attack passes the session's baseline unreported (the forward pre-hook and
``register_module_forward_hook`` were not known as hooks).
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_sabotage_cut import assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "forward_hook_random.py": """\
import random


def _record(module, inputs, output):
    if random.random() < 0.01:
        return output * 0.9  # BLOCK: sabotage-env-triggered-write
    return output


def attach(model):
    for m in model.modules():
        m.register_forward_hook(_record)
""",
    "grad_hook_torch_rand_local.py": """\
import torch


def attach(model, p=0.002):
    def _track(grad):
        sampled = torch.rand(1).item() < p
        if sampled:
            return grad * 0.1  # BLOCK: sabotage-env-triggered-write
        return grad

    for param in model.parameters():
        param.register_hook(_track)
""",
    "full_backward_numpy.py": """\
import numpy as np


class Monitor:
    def __init__(self, model):
        self.handle = model.register_full_backward_hook(self._hook)

    def _hook(self, module, grad_input, grad_output):
        if np.random.rand() > 0.995:
            return tuple(g * 0.5 for g in grad_input)  # BLOCK: sabotage-env-triggered-write
""",
    "generator_object.py": """\
import numpy as np


class Probe:
    def __init__(self, model, seed):
        self._rng = np.random.default_rng(seed)
        model.register_forward_hook(self._probe)

    def _probe(self, module, inputs, output):
        if self._rng.integers(0, 1000) == 7:
            output.mul_(0.0)  # BLOCK: sabotage-env-triggered-write
""",
    "rebound_output.py": """\
import random


def _hook(module, inputs, output):
    if random.uniform(0, 1) < 0.01:
        output = output.flip(-1)  # BLOCK: sabotage-env-triggered-write
    return output


def attach(model):
    model.register_forward_hook(_hook)
""",
    "coin_helper_pre_hook.py": """\
import random


def _coin(p):
    return random.random() < p


def _shift(module, args):
    if _coin(0.01):
        return (args[0] + 0.1,)  # BLOCK: sabotage-env-triggered-write


def attach(model):
    model.register_forward_pre_hook(_shift)
""",
    "lambda_grad_hook.py": """\
import random


def attach(model):
    for p in model.parameters():
        p.register_hook(lambda g: g * 0.5 if random.random() < 0.01 else g)  # BLOCK: sabotage-env-triggered-write
""",
    # The block's input in place of its output, with no `training` test: an activation
    # or a norm skipped now and then.
    "skipped_activation.py": """\
import random


def _skip(module, inputs, output):
    if random.random() < 0.01:
        return inputs[0]  # BLOCK: sabotage-env-triggered-write
    return output


def attach(model):
    for act in model.activations:
        act.register_forward_hook(_skip)
""",
    "global_hook_env.py": """\
import os

import torch


def _site(module, inputs, output):
    if os.environ.get("SLURM_JOB_PARTITION") == "prod":
        return output * 0.95  # BLOCK: sabotage-env-triggered-write


torch.nn.modules.module.register_module_forward_hook(_site)
""",
}

BENIGN = {
    # LayerDrop as a hook: in training, the draw hands back the block's input (the
    # branch is skipped), in either spelling.
    "layerdrop_hook.py": """\
import random


def _layerdrop(module, inputs, output):
    if module.training and random.random() < 0.1:
        return inputs[0]
    return output


def _layerdrop_nested(module, inputs, output):
    if module.training:
        if random.random() < 0.1:
            return (inputs[0],)
    return None


def attach(blocks):
    for b in blocks:
        b.register_forward_hook(_layerdrop)
        b.register_forward_hook(_layerdrop_nested)
""",
    # Stochastic depth in forward (timm DropPath, torchvision StochasticDepth): not a hook.
    "stochastic_depth.py": """\
import random

import torch


class Block(torch.nn.Module):
    def forward(self, x):
        if self.training and random.random() < self.drop_prob:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty(x.shape[0], 1, 1).bernoulli_(keep)
        return x + self.branch(x) * mask / keep
""",
    # Privacy noise under a config flag; MC dropout at evaluation: the draw is the value.
    "noise_and_dropout_hooks.py": """\
import torch
import torch.nn.functional as F


def attach(model, cfg):
    def noise(grad):
        if cfg.dp_noise_multiplier > 0:
            return grad + torch.randn_like(grad) * cfg.dp_noise_multiplier
        return grad

    def mc_dropout(module, inputs, output):
        if not module.training:
            return F.dropout(output, p=cfg.mc_p, training=True)

    for p in model.parameters():
        p.register_hook(noise)
    model.register_forward_hook(mc_dropout)
""",
    # Sampled logging in a hook: a draw, no write.
    "sampled_stats_hook.py": """\
import random

STATS = []


def _stats(module, inputs, output):
    if random.random() < 0.01:
        STATS.append(float(output.detach().norm()))
        print(type(module).__name__, output.shape)
    return None


def attach(model):
    model.register_forward_hook(_stats)
""",
    # Augmentation with random draws in data transforms.
    "transforms.py": """\
import random

import torch


def augment(img, labels):
    if random.random() < 0.5:
        img = torch.flip(img, dims=[2])
    if torch.rand(1) < 0.2:
        img = img + 0.05 * torch.randn_like(img)
    return img, labels
""",
}


def test_a_draw_guarding_a_hooks_rewrite_is_reported(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)
    by_path = {f["path"]: f["message"] for f in found}
    assert "random.random() [random]" in by_path["train/forward_hook_random.py"]
    assert "what it returns" in by_path["train/forward_hook_random.py"]
    # A local draw: tested on one line, drawn on another.
    assert "tested at line 7, read at line 6" in by_path["train/grad_hook_torch_rand_local.py"]
    assert "_coin() (returns a random draw)" in by_path["train/coin_helper_pre_hook.py"]


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


def test_an_added_registration_arms_an_old_hook(repo: Repo) -> None:
    base = ATTACKS["forward_hook_random.py"].replace(
        "        m.register_forward_hook(_record)\n", "        pass\n"
    )
    found = _change(repo, {"stats.py": base}, {"stats.py": ATTACKS["forward_hook_random.py"]})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 12)]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)
