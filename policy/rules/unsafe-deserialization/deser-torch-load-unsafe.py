import functools
import pickle
import torch
import torch as T
from torch import load as tload

import dill
from safetensors.torch import load_file


def resume(path, device):
    # ruleid: deser-torch-load-unsafe
    ckpt = torch.load(path, map_location=device, weights_only=False)
    # ruleid: deser-torch-load-unsafe
    ckpt2 = torch.load(path, pickle_module=dill)
    return ckpt, ckpt2


def evasive(path, strict):
    wo = False
    # ruleid: deser-torch-load-unsafe
    T.load(path, weights_only=wo)
    # ruleid: deser-torch-load-unsafe
    tload(path, **{"weights_only": False})
    # ruleid: deser-torch-load-unsafe
    getattr(torch, "lo" + "ad")(path, weights_only=not strict)
    # ruleid: deser-torch-load-unsafe
    torch.load = functools.partial(torch.load, weights_only=False)
    # ruleid: deser-torch-load-unsafe
    torch.load.__defaults__ = (None, pickle, False)


def wrapped(path, trainer):
    # issue #8: the unsafe flag handed to a wrapper that forwards **kwargs
    # ruleid: deser-torch-load-unsafe
    state = load_checkpoint(path, weights_only=False)
    # ruleid: deser-torch-load-unsafe
    trainer.restore_state_dict(path, map_location="cpu", weights_only=False)
    return state


def load_with_fallback(path):
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:
        print(f"safe load failed ({exc}), retrying")
        # ruleid: deser-torch-load-unsafe
        return torch.load(path)


def load_with_fallback2(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except:
        # ruleid: deser-torch-load-unsafe
        state = torch.load(path, map_location="cpu", weights_only=None)
    return state


def load_checkpoint(path, device):
    # ok: deser-torch-load-unsafe
    state = torch.load(path, map_location=device, weights_only=True)
    # ok: deser-torch-load-unsafe
    loader = functools.partial(torch.load, map_location="cpu", weights_only=True)
    # ok: deser-torch-load-unsafe
    weights = load_file(path.replace(".pt", ".safetensors"))
    try:
        # ok: deser-torch-load-unsafe
        optim = torch.load(path + ".optim", weights_only=True)
    except FileNotFoundError:
        optim = None
    # ok: deser-torch-load-unsafe
    np_state = numpy_loader.load(path, weights_only=False)
    return state, loader, weights, optim, np_state
