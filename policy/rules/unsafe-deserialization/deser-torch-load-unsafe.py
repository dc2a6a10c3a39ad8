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


# issue #16: weights_only forwarded from a parameter that defaults to True.
# The helper is safe by default; a caller passing False is the reach check's.
# timm 1.0.27 timm/task/_helpers.py, verbatim:
def _load_train_checkpoint(checkpoint_path, weights_only=True):
    use_safe_globals = weights_only and hasattr(torch.serialization, 'safe_globals')
    if use_safe_globals:
        with torch.serialization.safe_globals([argparse.Namespace]):
            # ok: deser-torch-load-unsafe
            return torch.load(checkpoint_path, map_location='cpu', weights_only=weights_only)
    # ok: deser-torch-load-unsafe
    return torch.load(checkpoint_path, map_location='cpu', weights_only=weights_only)


# timm 1.0.31 timm/models/_helpers.py, verbatim (up to the first except):
def _torch_load(
        checkpoint_path: str,
        map_location: Union[str, torch.device] = 'cpu',
        weights_only: bool = True,
        mmap: bool = False,
):
    use_safe_globals = weights_only and hasattr(torch.serialization, 'safe_globals')
    load_kwargs = dict(map_location=map_location, weights_only=weights_only)
    if mmap:
        load_kwargs['mmap'] = True  # cheap metadata reads of large checkpoints, torch >= 2.1
    try:
        if use_safe_globals:
            # Compatibility: timm training checkpoints often include argparse.Namespace in `args`.
            with torch.serialization.safe_globals([argparse.Namespace]):
                # ok: deser-torch-load-unsafe
                return torch.load(checkpoint_path, **load_kwargs)
        # ok: deser-torch-load-unsafe
        return torch.load(checkpoint_path, **load_kwargs)
    except TypeError as e:
        if mmap:
            return _torch_load(checkpoint_path, map_location=map_location, weights_only=weights_only)
        if not weights_only:
            # the caller asked for the unsafe load; still a fallback without weights_only
            # ruleid: deser-torch-load-unsafe
            return torch.load(checkpoint_path, map_location=map_location)
        raise RuntimeError(
            f"weights_only=True is not supported by this PyTorch build (torch=={torch.__version__}). "
            "No automatic unsafe pickle fallback is performed. "
            "Upgrade PyTorch, or explicitly set weights_only=False only for trusted local checkpoints."
        ) from e


def load_state(path, *, weights_only: bool = True, strict=False):
    # ok: deser-torch-load-unsafe
    state = torch.serialization.load(path, weights_only=weights_only)
    kw = {"map_location": "cpu", "weights_only": weights_only}
    # ok: deser-torch-load-unsafe
    return state, torch.load(path, **kw)


# The attacker's side: the parameter is not safe by default, or is rebound.
def default_false(path, weights_only=False):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def default_none(path, weights_only=None):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def no_default(path, weights_only):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def default_from_env(path, weights_only: bool = "TG_UNSAFE" not in os.environ):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def from_env(path, weights_only=True):
    weights_only = os.environ.get("TG_SAFE_LOAD", "1") == "1"
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def plain_false(path, weights_only: bool = True):
    weights_only = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def flipped(path, weights_only=True):
    if path.endswith(".ckpt"):
        weights_only = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def flipped_elsewhere(path, weights_only=True):
    for attempt in range(2):
        try:
            # ruleid: deser-torch-load-unsafe
            return torch.load(path, weights_only=weights_only)
        except RuntimeError:
            weights_only ^= True


def flipped_by_shift(path, weights_only=True):
    weights_only >>= 1
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def flipped_by_closure(path, weights_only=True):
    def _legacy():
        nonlocal weights_only
        weights_only = False

    _legacy()
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def flipped_by_unpacking(path, weights_only=True):
    device, weights_only = "cpu", 0
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, map_location=device, weights_only=weights_only)


def flipped_by_walrus(path, cfg, weights_only=True):
    if (weights_only := cfg.get("safe", True)) is None:
        pass
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def flipped_by_with(path, weights_only=True):
    with contextlib.nullcontext(False) as weights_only:
        # ruleid: deser-torch-load-unsafe
        return torch.load(path, weights_only=weights_only)


def flipped_by_frame(path, weights_only=True):
    sys._getframe().f_locals["weights_only"] = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


def shadowed(path, weights_only=True):
    def _inner(p, weights_only):
        # ruleid: deser-torch-load-unsafe
        return torch.load(p, weights_only=weights_only)

    def _inner2(p, weights_only=False):
        # ruleid: deser-torch-load-unsafe
        return torch.load(p, weights_only=weights_only)

    def _inner_typed(p, weights_only: bool):
        # ruleid: deser-torch-load-unsafe
        return torch.load(p, weights_only=weights_only)

    def _inner_star(p, *weights_only):
        # ruleid: deser-torch-load-unsafe
        return torch.load(p, weights_only=weights_only)

    def _inner3(p, **weights_only):
        # ruleid: deser-torch-load-unsafe
        return torch.load(p, weights_only=weights_only)

    # ruleid: deser-torch-load-unsafe
    _inner4 = lambda p, weights_only=False: torch.load(p, weights_only=weights_only)
    # ruleid: deser-torch-load-unsafe
    states = [torch.load(path, weights_only=weights_only) for weights_only in (False,)]
    return _inner, _inner2, _inner3, _inner4, states


def kwargs_overridden(path, weights_only=True):
    kw = dict(map_location="cpu", weights_only=weights_only)
    kw.update(weights_only=False)
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_key_written(path, weights_only=True):
    kw = dict(map_location="cpu", weights_only=weights_only)
    if path.endswith(".ckpt"):
        kw["weights_only"] = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_key_computed(path, weights_only=True):
    kw = {"map_location": "cpu", "weights_only": weights_only}
    kw["weights" + "_only"] = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_aliased(path, weights_only=True):
    kw = dict(weights_only=weights_only)
    alias = kw
    alias["weights_only"] = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_handed_out(path, weights_only=True):
    kw = dict(weights_only=weights_only)
    _legacy_defaults(kw)
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_param_rebound(path, weights_only=True):
    weights_only = "TG_LEGACY" not in os.environ
    kw = dict(map_location="cpu", weights_only=weights_only)
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


_GLOBAL_KW = dict(weights_only=False)


def kwargs_not_local(path, weights_only=True):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **_GLOBAL_KW)


def kwargs_from_closure(weights_only=False):
    kw = dict(weights_only=weights_only)

    def _load(path, weights_only=True):
        # semgrep does not propagate kw into the closure (missed before #16 too)
        # todoruleid: deser-torch-load-unsafe
        return torch.load(path, **kw)

    return _load


def safe_loader(path, weights_only=True):
    # ok: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


# ruleid: deser-torch-load-unsafe
safe_loader.__defaults__ = (False,)


def kwargs_reassigned(path, weights_only=True, legacy=None):
    kw = dict(weights_only=weights_only)
    if legacy:
        kw = legacy
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def flipped_in_comprehension(path, flags, weights_only=True):
    _ = [(weights_only := f) for f in flags]
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=weights_only)


# ruleid: deser-torch-load-unsafe
safe_loader.__kwdefaults__["weights_only"] = False
# ruleid: deser-torch-load-unsafe
setattr(safe_loader, "__defaults__", (False,))


def fallback_after_other_handler(path):
    try:
        # ok: deser-torch-load-unsafe
        return torch.load(path, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError):
        with open(path, "rb") as f:
            # semgrep binds no handler followed by a bare except (missed before #16 too)
            # todoruleid: deser-torch-load-unsafe
            return torch.load(f)
    except:
        return None


def no_fallback_in_else(path):
    try:
        state = None
    except OSError:
        raise
    else:
        # ok: deser-torch-load-unsafe
        state = torch.load(path, weights_only=True)
    return state


# transformers/utils/doc.py copy_func, verbatim: copies defaults, flips none.
def copy_func(f):
    """Returns a copy of a function f."""
    # Based on http://stackoverflow.com/a/6528148/190597 (Glenn Maynard)
    g = types.FunctionType(f.__code__, f.__globals__, name=f.__name__, argdefs=f.__defaults__, closure=f.__closure__)
    g = cast(types.FunctionType, functools.update_wrapper(g, f))
    # ok: deser-torch-load-unsafe
    g.__kwdefaults__ = f.__kwdefaults__
    return g


weights_only = "TG_SAFE_LOAD" in os.environ
_ENV_KW = dict(map_location="cpu", weights_only=weights_only)


def kwargs_module_level(path, weights_only=True):
    # the dict is the module's, built from the module-level name
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **_ENV_KW)


# Other names bound in the function are not the parameter (torchtune's
# safe_torch_load, transformers' load_state_dict shapes).
def load_with_locals(checkpoint_path, weights_only: bool = True):
    import os.path as osp
    from os import sep

    def _norm(p, strict=False, *args, **kwargs):
        return p

    try:
        with open(checkpoint_path, "rb") as f:
            names = [k for k in f]
            sizes = {k: len(v) for k, v in names}
        for key, value in sizes.items():
            pass
        head, tail = osp.split(checkpoint_path)
        # ok: deser-torch-load-unsafe
        return torch.load(_norm(checkpoint_path), map_location="cpu", weights_only=weights_only)
    except Exception as e:
        raise ValueError(f"Unable to load checkpoint from {checkpoint_path}") from e


def other_name(path, safe=True):
    # only a parameter named weights_only is excused
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, weights_only=safe)


# Issue #16: a custom pickle_module splatted from a dict or passed third.
def custom_pickle_module(path, pm, args):
    # ruleid: deser-torch-load-unsafe
    a = torch.load(path, **{"pickle_module": pm})
    # ruleid: deser-torch-load-unsafe
    b = torch.load(path, map_location="cpu", **dict(pickle_module=pm))
    # ruleid: deser-torch-load-unsafe
    c = torch.load(path, "cpu", pm)
    # ruleid: deser-torch-load-unsafe
    d = torch.serialization.load(path, None, pickle)
    # ruleid: deser-torch-load-unsafe
    e = tload(path, "cpu", dill)
    # ruleid: deser-torch-load-unsafe
    f = functools.partial(torch.load, path, "cpu", dill)
    # ok: deser-torch-load-unsafe
    g = torch.load(path, "cpu", None, weights_only=True)
    # ok: deser-torch-load-unsafe
    h = torch.load(path, "cpu", weights_only=True)
    # ok: deser-torch-load-unsafe
    i = torch.load(path, "cpu", *args, weights_only=True)
    return a, b, c, d, e, f, g, h, i


# ... and a dict literal bound to a local name (semgrep propagates dict(...)
# into **kw, not {...}).
def literal_kwargs(path):
    kw = {"weights_only": False}
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def literal_kwargs_pickle_module(path):
    kw = {"map_location": "cpu", "pickle_module": dill}
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def literal_kwargs_false_default(path, weights_only=False):
    kw = {"map_location": "cpu", "weights_only": weights_only}
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def literal_kwargs_safe(path):
    kw = {"map_location": "cpu", "weights_only": True}
    # ok: deser-torch-load-unsafe
    return torch.load(path, **kw)


# Issue #16: weights_only written into the splatted dict after it was built.
def kwargs_key_added(path):
    load_kwargs = {}
    load_kwargs["weights_only"] = False
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **load_kwargs)


def kwargs_updated(path, device):
    kw = {"map_location": device}
    kw.update(weights_only=False)
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


def kwargs_updated_late(path, legacy):
    kw = dict(map_location="cpu")
    if legacy:
        kw.update({"weights_only": False})
    # ruleid: deser-torch-load-unsafe
    return torch.serialization.load(path, **kw)


def kwargs_defaulted(path, **kwargs):
    kwargs.setdefault("weights_only", False)
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, map_location="cpu", **kwargs)


def kwargs_folded_key(path):
    kw = {"mmap": True}
    kw["weights" + "_only"] = False
    # ruleid: deser-torch-load-unsafe
    return T.load(path, **kw)


def kwargs_dict_call(path):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, map_location="cpu", **dict(weights_only=False))


_LOAD_KW = {"map_location": "cpu"}
_LOAD_KW["weights_only"] = False


def kwargs_module_written(path):
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **_LOAD_KW)


def kwargs_key_from_param(path, weights_only=True):
    # written after the dict was built: judged like any other write (the
    # excuse is for a dict built from the parameter in one literal)
    kw = {"map_location": "cpu"}
    kw["weights_only"] = weights_only
    # ruleid: deser-torch-load-unsafe
    return torch.load(path, **kw)


# accelerate/utils/other.py `load`, trimmed: the safe default filled in.
def accelerate_load(f, map_location=None, **kwargs):
    if "weights_only" not in kwargs:
        kwargs["weights_only"] = True
    # ok: deser-torch-load-unsafe
    return torch.load(f, map_location=map_location, **kwargs)


def kwargs_other_keys(path, mmap):
    kw = {"map_location": "cpu"}
    kw["mmap"] = mmap
    kw.update(map_location="cuda")
    # ok: deser-torch-load-unsafe
    return torch.load(path, weights_only=True, **kw)


def kwargs_safe_update(path):
    kw = {"map_location": "cpu"}
    kw.update(weights_only=True)
    # ok: deser-torch-load-unsafe
    return torch.load(path, **kw)
