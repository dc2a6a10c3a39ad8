import builtins
import os
import subprocess

import numpy as np
import torch
from torch.serialization import add_safe_globals

from mypkg.config import TrainConfig


def setup_env():
    # ruleid: deser-torch-weights-only-bypass
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"


def evasive_env():
    # ruleid: deser-torch-weights-only-bypass
    os.environ.setdefault("TORCH_FORCE_" + "NO_WEIGHTS_ONLY_LOAD", "1")
    # ruleid: deser-torch-weights-only-bypass
    os.putenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "true")
    # ruleid: deser-torch-weights-only-bypass
    os.environ.update(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    # ruleid: deser-torch-weights-only-bypass
    key = "TORCH_FORCE_NO_" + "WEIGHTS_ONLY_LOAD"
    # ruleid: deser-torch-weights-only-bypass
    os.environ[key] = "1"


def register_globals():
    # ruleid: deser-torch-weights-only-bypass
    torch.serialization.add_safe_globals([TrainConfig, os.system])
    # ruleid: deser-torch-weights-only-bypass
    add_safe_globals([(subprocess.Popen, "subprocess.Popen")])
    # ruleid: deser-torch-weights-only-bypass
    add_safe_globals([getattr, builtins.exec])
    # ruleid: deser-torch-weights-only-bypass
    torch.serialization._default_to_weights_only = lambda *a: False


def load_checkpoint(path):
    # ok: deser-torch-weights-only-bypass
    torch.serialization.add_safe_globals([TrainConfig, np.dtype, np.core.multiarray.scalar])
    # ok: deser-torch-weights-only-bypass
    with torch.serialization.safe_globals([TrainConfig]):
        state = torch.load(path, weights_only=True)
    # ok: deser-torch-weights-only-bypass
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    # ok: deser-torch-weights-only-bypass
    os.environ.setdefault("TORCH_HOME", "/data/torch_cache")
    return state
