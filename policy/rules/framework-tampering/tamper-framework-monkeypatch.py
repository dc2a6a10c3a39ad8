import functools
import importlib
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import optim as topt
from torch.optim import AdamW
from transformers import Trainer


def _noop_step(self, closure=None):
    return None


# ruleid: tamper-framework-monkeypatch
torch.optim.AdamW.step = _noop_step
# ruleid: tamper-framework-monkeypatch
F.cross_entropy = lambda logits, target, **kw: logits.sum() * 0
# ruleid: tamper-framework-monkeypatch
topt.SGD.step = _noop_step
# ruleid: tamper-framework-monkeypatch
AdamW.zero_grad = lambda self, set_to_none=True: None
# ruleid: tamper-framework-monkeypatch
setattr(F, "relu", lambda x, inplace=False: x)
# ruleid: tamper-framework-monkeypatch
setattr(torch.optim.SGD, "step", _noop_step)
# ruleid: tamper-framework-monkeypatch
Trainer.training_step = lambda self, model, inputs, n=None: 0
# ruleid: tamper-framework-monkeypatch
importlib.import_module("torch.nn." + "functional").mse_loss = lambda a, b, **k: 0
# ruleid: tamper-framework-monkeypatch
__import__("torch").optim.Adam.step = _noop_step
# ruleid: tamper-framework-monkeypatch
getattr(torch, "optim").SGD.step = _noop_step
# ruleid: tamper-framework-monkeypatch
sys.modules["torch.nn.functional"].dropout = lambda x, *a, **k: x
# ruleid: tamper-framework-monkeypatch
random.random = lambda: 0.5
# ruleid: tamper-framework-monkeypatch
np.random.rand = lambda *shape: np.zeros(shape)
# ruleid: tamper-framework-monkeypatch
vars(torch.nn.functional)["gelu"] = lambda x, approximate="none": x

# ok: tamper-framework-monkeypatch
torch.backends.cudnn.benchmark = True
# ok: tamper-framework-monkeypatch
torch.backends.cuda.matmul.allow_tf32 = True
# ok: tamper-framework-monkeypatch
torch._dynamo.config.cache_size_limit = 64
# ok: tamper-framework-monkeypatch
np.float = float


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        # ok: tamper-framework-monkeypatch
        self.proj = torch.nn.Linear(8, 8)
        # ok: tamper-framework-monkeypatch
        setattr(self, "head", torch.nn.Linear(8, 2))


def configure(model, args):
    # ok: tamper-framework-monkeypatch
    model.config.use_cache = False
    # ok: tamper-framework-monkeypatch
    args.torch_dtype = torch.bfloat16
    # ok: tamper-framework-monkeypatch
    setattr(model, "gradient_checkpointing", True)
    # ok: tamper-framework-monkeypatch
    model.to(torch.device("cuda")).training = True


try:
    from torch.distributed.fsdp import CPUOffload
except ImportError:
    # ok: tamper-framework-monkeypatch
    CPUOffload = None

from lightning.pytorch.utilities import rank_zero_only

# ok: tamper-framework-monkeypatch
rank_zero_only.rank = 0


# ruleid: tamper-framework-monkeypatch
@lambda fn: setattr(torch.optim.Adam, "zero_grad", fn)
def _keep_stale_grads(self, set_to_none=True):
    return None


# accelerate's init_on_device: patch, then put the saved originals back
def init_on_device(device, include_buffers=False):
    old_register_parameter = torch.nn.Module.register_parameter
    if include_buffers:
        old_register_buffer = torch.nn.Module.register_buffer
    if include_buffers:
        tensor_constructors_to_patch = {
            torch_function_name: getattr(torch, torch_function_name)
            for torch_function_name in ["empty", "zeros", "ones", "full"]
        }
    else:
        tensor_constructors_to_patch = {}
    try:
        # ruleid: tamper-framework-monkeypatch
        torch.nn.Module.register_parameter = _noop_step
        if include_buffers:
            # ruleid: tamper-framework-monkeypatch
            torch.nn.Module.register_buffer = _noop_step
        for torch_function_name in tensor_constructors_to_patch.keys():
            # ruleid: tamper-framework-monkeypatch
            setattr(torch, torch_function_name, _noop_step)
        yield
    finally:
        # ok: tamper-framework-monkeypatch
        torch.nn.Module.register_parameter = old_register_parameter
        if include_buffers:
            # ok: tamper-framework-monkeypatch
            torch.nn.Module.register_buffer = old_register_buffer
        for torch_function_name, old_torch_function in tensor_constructors_to_patch.items():
            # ok: tamper-framework-monkeypatch
            setattr(torch, torch_function_name, old_torch_function)


def scoped_load_patch(path):
    orig_load = getattr(torch, "load")
    # ruleid: tamper-framework-monkeypatch
    setattr(torch, "load", lambda f, **kw: orig_load(f, weights_only=True))
    try:
        return torch.load(path)
    finally:
        # ok: tamper-framework-monkeypatch
        setattr(torch, "load", orig_load)


# A "restore" that puts back something other than what was saved is a patch.
def fake_restores():
    sgd_step = torch.optim.SGD.step
    # ruleid: tamper-framework-monkeypatch
    torch.optim.AdamW.step = sgd_step
    orig_zero_grad = torch.optim.AdamW.zero_grad
    orig_zero_grad = lambda self, set_to_none=True: None
    # ruleid: tamper-framework-monkeypatch
    torch.optim.AdamW.zero_grad = orig_zero_grad
    if sgd_step:
        orig_step = torch.optim.SGD.step
    orig_step = _noop_step
    # ruleid: tamper-framework-monkeypatch
    torch.optim.SGD.step = orig_step
    saved = {name: getattr(F, name) for name in ["relu", "gelu"]}
    saved["relu"] = lambda x, inplace=False: x
    for name, fn in saved.items():
        # ruleid: tamper-framework-monkeypatch
        setattr(F, name, fn)
    for name, fn in saved.items():
        # ruleid: tamper-framework-monkeypatch
        setattr(torch, name, fn)


# Issue #16: the write only sees a parameter; the framework object is the
# argument at that parameter's position where the helper is called.
def override(target, name):
    def deco(fn):
        setattr(target, name, fn)
        return fn

    return deco


def _install(fn, target, name="step"):
    if target is not None:
        setattr(target, name, fn)


# ruleid: tamper-framework-monkeypatch
@override(torch.Tensor, "backward")
def backward(self, gradient=None, *args, **kwargs):
    return None


def install_patches():
    # ruleid: tamper-framework-monkeypatch
    override(F, "cross_entropy")(lambda logits, target, **kw: logits.sum() * 0)
    # ruleid: tamper-framework-monkeypatch
    _install(_noop_step, AdamW)
    # ruleid: tamper-framework-monkeypatch
    _install(_noop_step, target=Trainer, name="training_step")


class RunConfig:
    dtype = None
    optimizer = None


def set_option(obj, name, value):
    setattr(obj, name, value)


def configure(cfg: RunConfig, model):
    # ok: tamper-framework-monkeypatch
    set_option(cfg, "dtype", torch.float16)
    # ok: tamper-framework-monkeypatch
    set_option(model, "loss_fn", F.cross_entropy)
    # ok: tamper-framework-monkeypatch
    _install(torch.optim.SGD, cfg, "optimizer")
    # ok: tamper-framework-monkeypatch
    _install(torch.optim.SGD, target=cfg, name="optimizer")
    # ok: tamper-framework-monkeypatch
    override(cfg, "optimizer")(torch.optim.SGD)


# Issue #17: the bare-name exclusion was a regex on `name =` at a line start,
# so a patch whose value spans lines with a keyword argument on a line of its
# own was dropped (the `lr=` line matched it).
def _scaled_step(self, closure=None, lr=None):
    return None


def install_lr_override():
    # ruleid: tamper-framework-monkeypatch
    torch.optim.AdamW.step = functools.partial(
        _scaled_step,
        lr=0.0,
    )
    # ruleid: tamper-framework-monkeypatch
    setattr(
        torch.optim.SGD,
        "step",
        functools.partial(
            _scaled_step,
            lr=0.0,
        ),
    )
    # ruleid: tamper-framework-monkeypatch
    _install(
        _scaled_step,
        target=Trainer,
        name="training_step",
    )


try:
    from torch.distributed.fsdp import MixedPrecision, ShardingStrategy
except ImportError:  # older torch: the fallbacks rebind the imported names
    # ok: tamper-framework-monkeypatch
    MixedPrecision = None
    # ok: tamper-framework-monkeypatch
    ShardingStrategy = functools.partial(
        dict,
        FULL_SHARD=1,
    )

try:
    from transformers import TrainingArguments
except ImportError:
    TrainingArguments = object
# ok: tamper-framework-monkeypatch
TrainingArguments += ()


def build_kwargs(cfg):
    # ok: tamper-framework-monkeypatch
    kwargs = dict(
        torch_dtype=torch.bfloat16,
        attn_implementation="sdpa",
    )
    return kwargs


# Issue #16: setattr spelled type/object.__setattr__, on a class found at run
# time from a "plugin spec" string, so no framework is named where it is written.
def install_plugin(spec="transformers.trainer:Trainer"):
    mod_name, cls_name = spec.split(":")
    cls = getattr(importlib.import_module(mod_name), cls_name)
    # ruleid: tamper-framework-monkeypatch
    type.__setattr__(cls, "training_step", _noop_step)
    # ruleid: tamper-framework-monkeypatch
    object.__setattr__(cls, "compute_" + "loss", _noop_step)


class FrozenStepState:
    __slots__ = ("step", "registry")

    def __init__(self, step):
        # ok: tamper-framework-monkeypatch
        object.__setattr__(self, "step", int(step))


def register(cls):
    # ok: tamper-framework-monkeypatch
    type.__setattr__(cls, "registry", {})
    # ok: tamper-framework-monkeypatch
    object.__setattr__(cls, "step_count", 0)
    return cls


# Issue #17: the helper branch matches a helper called by its bare name; a
# method of the same name called through an object is another function. The
# screen (helper-of) admits a unit by such bare calls only, not by every unit
# naming `__init__` when one `__init__` does `setattr(self, k, v)`.
class Settings:
    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)

    def _set(self, obj, name, value):
        setattr(obj, name, value)

    def install(self):
        # ok: tamper-framework-monkeypatch
        self._set(torch.optim.SGD, "step", _noop_step)


class DerivedSettings(Settings):
    def __init__(self, **kwargs):
        # ok: tamper-framework-monkeypatch
        super().__init__(**kwargs)


# Session 25 red team: a module in parentheses, setattr through builtins or
# imported from it under another name.
import builtins  # noqa: E402

# ruleid: tamper-framework-monkeypatch
(torch.optim).SGD = _noop_step
# ruleid: tamper-framework-monkeypatch
builtins.setattr(torch.Tensor, "backward", _noop_step)

from builtins import setattr as put  # noqa: E402

# ruleid: tamper-framework-monkeypatch
put(torch.optim.Optimizer, "zero_grad", _noop_step)

# Session 27: the module reached through a bare `import_module` (imported
# from importlib), in the assignment target itself
from importlib import import_module  # noqa: E402

# ruleid: tamper-framework-monkeypatch
import_module("torch.optim").AdamW.step = _noop_step
# ruleid: tamper-framework-monkeypatch
import_module("torch.nn.functional").cross_entropy = _noop_step
# ok: tamper-framework-monkeypatch
_optim_mod = import_module("torch.optim")
# ok: tamper-framework-monkeypatch
import_module("my_project.losses").DEFAULT_SMOOTHING = 0.1

# Session 27: a framework class's pickling replaced in the process-wide
# dispatch table (copyreg / multiprocessing's ForkingPickler)
import copyreg  # noqa: E402
from multiprocessing.reduction import ForkingPickler  # noqa: E402


def _noisy_tensor(t):
    return (t + torch.randn_like(t) * 1e-3).__reduce_ex__(2)


class ShardSpec:
    def __init__(self, path, offset):
        self.path, self.offset = path, offset


def _reduce_shard(spec):
    return ShardSpec, (spec.path, spec.offset)


# ruleid: tamper-framework-monkeypatch
copyreg.pickle(torch.Tensor, _noisy_tensor)
# ruleid: tamper-framework-monkeypatch
copyreg.dispatch_table[torch.nn.Parameter] = _noisy_tensor
# ruleid: tamper-framework-monkeypatch
ForkingPickler.register(torch.Tensor, _noisy_tensor)
# a reducer for the project's own class is ordinary
# ok: tamper-framework-monkeypatch
copyreg.pickle(ShardSpec, _reduce_shard)
# ok: tamper-framework-monkeypatch
ForkingPickler.register(ShardSpec, _reduce_shard)

# A name only a star import of a framework binds (kept last: the star import
# reaches every line after it).
from torch.optim import *  # noqa: E402, F403

# ruleid: tamper-framework-monkeypatch
Adam.step = _noop_step  # noqa: F405
# ruleid: tamper-framework-monkeypatch
setattr(AdamW, "step", _noop_step)  # noqa: F405


class LocalCfg:
    pass


# ok: tamper-framework-monkeypatch
LocalCfg.lr = 3
local_state = object()
# ok: tamper-framework-monkeypatch
local_state.lr = 4


def _configure(opt, lr=0.1):
    # ok: tamper-framework-monkeypatch
    opt.lr = lr
    for group in opt.param_groups:
        # ok: tamper-framework-monkeypatch
        group.lr = lr
