import contextlib
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


# Issue #16: process-wide interception of torch ops that is not called a hook.
from torch.autograd.graph import saved_tensors_hooks
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class _ScaleCE(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return out * 0.3 if func is torch.nn.functional.cross_entropy else out


# ruleid: tamper-global-training-hook
_ScaleCE().__enter__()
# ruleid: tamper-global-training-hook
_offload = saved_tensors_hooks(lambda t: t, lambda t: t.mul_(0.98)).__enter__()
# ruleid: tamper-global-training-hook
getattr(_ScaleCE(), "__enter__")()
_STACK = contextlib.ExitStack()
# ruleid: tamper-global-training-hook
_STACK.enter_context(_ScaleCE())
# ruleid: tamper-global-training-hook
torch._C._push_on_torch_function_stack(_ScaleCE())
# ruleid: tamper-global-training-hook
_aten = torch.library.Library("aten", "IMPL")
_aten.impl("gelu", lambda x, approximate="none": torch.relu(x), "CUDA")
_ns = "at" + "en"
# ruleid: tamper-global-training-hook
_lib2 = torch.library.Library(_ns, "IMPL")


# ruleid: tamper-global-training-hook
@torch.library.impl("aten::mul.Tensor", "cuda")
def _mul(a, b):
    return a * b * 0.999


# ruleid: tamper-global-training-hook
torch.library.register_kernel(torch.ops.aten.add.Tensor, "cuda", lambda a, b, alpha=1: a + b)

# ok: tamper-global-training-hook
_mylib = torch.library.Library("mylib", "DEF")
_mylib.define("fused_rmsnorm(Tensor x, float eps) -> Tensor")


# ok: tamper-global-training-hook
@torch.library.impl("mylib::fused_rmsnorm", "cuda")
def _fused_rmsnorm(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


# ok: tamper-global-training-hook
torch.library.register_kernel("mylib::fused_rmsnorm", "cpu", _fused_rmsnorm)


class _EmptyInit(TorchFunctionMode):
    """Lightning's _EmptyInit: a mode used in a with block only."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def build_model(factory):
    # ok: tamper-global-training-hook
    with _EmptyInit(), saved_tensors_hooks(lambda t: t.cpu(), lambda t: t.cuda()):
        return factory()


class LocalSGD:
    """accelerate's LocalSGD: enters the model's no_sync and exits it later."""

    def __init__(self, model):
        self.model_sync_obj = model.no_sync()

    def __enter__(self):
        # ok: tamper-global-training-hook
        self.model_sync_obj.__enter__()
        return self

    def __exit__(self, *exc):
        self.model_sync_obj.__exit__(*exc)


def profile_step(profiler, stack):
    # ok: tamper-global-training-hook
    recording = profiler.__enter__()
    # ok: tamper-global-training-hook
    stack.enter_context(torch.no_grad())
    return recording


class _Quiet(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))
