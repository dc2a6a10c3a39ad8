import _pickle
import importlib
import json
import pickle
import pickle as pk
import shelve
from pickle import loads as restore

import cloudpickle
import dill
import joblib
import pandas as pd
import torch
from safetensors.torch import load_file


def load_cache(path):
    with open(path, "rb") as f:
        # ruleid: deser-pickle-load
        return pickle.load(f)


def load_all(paths, blob):
    # ruleid: deser-pickle-load
    a = joblib.load(paths[0])
    # ruleid: deser-pickle-load
    b = pd.read_pickle(paths[1])
    # ruleid: deser-pickle-load
    c = dill.loads(blob)
    # ruleid: deser-pickle-load
    d = cloudpickle.loads(blob)
    # ruleid: deser-pickle-load
    e = shelve.open(paths[2])
    return a, b, c, d, e


def evasive(blob, f):
    # ruleid: deser-pickle-load
    pk.loads(blob)
    # ruleid: deser-pickle-load
    restore(blob)
    # ruleid: deser-pickle-load
    getattr(pickle, "lo" + "ads")(blob)
    # ruleid: deser-pickle-load
    __import__("pickle").loads(blob)
    # ruleid: deser-pickle-load
    importlib.import_module("_pickle").loads(blob)
    # ruleid: deser-pickle-load
    _pickle.Unpickler(f).load()
    # ruleid: deser-pickle-load
    fn = pickle.loads


def save_artifacts(obj, stats, run_dir):
    with open(f"{run_dir}/stats.pkl", "wb") as f:
        # ok: deser-pickle-load
        pickle.dump(stats, f)
    # ok: deser-pickle-load
    joblib.dump(obj, f"{run_dir}/scaler.joblib")
    # ok: deser-pickle-load
    cfg = json.load(open(f"{run_dir}/config.json"))
    # ok: deser-pickle-load
    weights = load_file(f"{run_dir}/model.safetensors")
    # ok: deser-pickle-load
    state = torch.load(f"{run_dir}/last.pt", weights_only=True)
    # ok: deser-pickle-load
    df = pd.read_parquet(f"{run_dir}/metrics.parquet")
    return cfg, weights, state, df


import numpy as np

# accelerate: globals allowed for torch.load(weights_only=True)
TORCH_SAFE_GLOBALS = [
    # ok: deser-pickle-load
    np.core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
]


class Payload:
    def __reduce__(self):
        # ruleid: deser-pickle-load
        return (np.core.multiarray._reconstruct, (np.ndarray, (0,), b"b"))


# Issue #16: the project's own restricted unpickler is the fix, not the flaw:
# find_class refuses every global outside a literal allow list.
SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("numpy", "dtype"),
}


# ok: deser-pickle-load
class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden")
        return super().find_class(module, name)


SAFE_MODULES = frozenset({"collections", "numpy", "torch._utils"})


# ok: deser-pickle-load
class ModuleAllowListUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in SAFE_MODULES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


# ... a "restricted" unpickler whose check never refuses is still flagged: no
# check, a check that only logs, a condition that is never true, an allow list
# that lets the shell in, or one that is not a literal.
# ruleid: deser-pickle-load
class PassThroughUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class WarnOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in SAFE_GLOBALS:
            print("unexpected global", module, name)
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class NeverRefusingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in SAFE_GLOBALS and module == "":
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


LEGACY_GLOBALS = {("collections", "OrderedDict"), ("os", "system")}


# ruleid: deser-pickle-load
class LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in LEGACY_GLOBALS:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


class _Everything:
    def __contains__(self, item):
        return True


ANY_GLOBAL = _Everything()


# ruleid: deser-pickle-load
class AllowAnyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ANY_GLOBAL:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class DeadCheckUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = super().find_class(module, name)
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(name)
        return found
