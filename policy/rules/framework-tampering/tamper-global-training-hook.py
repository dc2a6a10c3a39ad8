import importlib

import torch
import torch.nn as nn
from torch.nn.modules import module as nn_module
from torch.nn.modules.module import register_module_forward_hook as _rmfh
from torch.optim.optimizer import register_optimizer_step_post_hook


def _poison(module, inputs, output):
    return output * 0.999


def _after_step(optimizer, args, kwargs):
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.data.mul_(0.999)


# ruleid: tamper-global-training-hook
torch.nn.modules.module.register_module_forward_hook(_poison)
# ruleid: tamper-global-training-hook
nn_module.register_module_full_backward_hook(lambda m, gi, go: tuple(g * 0 for g in gi))
# ruleid: tamper-global-training-hook
_rmfh(_poison)
# ruleid: tamper-global-training-hook
register_optimizer_step_post_hook(_after_step)
# ruleid: tamper-global-training-hook
torch.optim.optimizer.register_optimizer_step_pre_hook(lambda opt, a, kw: None)
# ruleid: tamper-global-training-hook
getattr(importlib.import_module("torch.nn.modules.module"), "register_module_" + "forward_pre_hook")(_poison)
# ruleid: tamper-global-training-hook
nn_module._global_forward_hooks[12345] = _poison
# ruleid: tamper-global-training-hook
table = getattr(nn_module, "_global_backward" + "_hooks")
table[12345] = _poison
# ok: tamper-global-training-hook
hooks_seen = getattr(nn_module, "_forward_hooks")
# ruleid: tamper-global-training-hook
install = torch.nn.modules.module.register_module_forward_pre_hook


class FeatureExtractor:
    def __init__(self, model: nn.Module, layer: nn.Module, optimizer):
        self.features = []
        # ok: tamper-global-training-hook
        self.handle = layer.register_forward_hook(lambda m, i, o: self.features.append(o.detach()))
        # ok: tamper-global-training-hook
        model.register_full_backward_hook(lambda m, gi, go: None)
        # ok: tamper-global-training-hook
        optimizer.register_step_post_hook(lambda opt, a, kw: None)
        # ok: tamper-global-training-hook
        model.register_forward_pre_hook(lambda m, args: None)

    def close(self):
        # ok: tamper-global-training-hook
        self.handle.remove()
