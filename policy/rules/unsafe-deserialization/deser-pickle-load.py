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


# Issue #16 on real history (timm 1.0.28, GHSA-pqww-w348-m542), verbatim: a
# find_class that refuses every global (a class map is a plain dict) ...
# ok: deser-pickle-load
class _ClassMapUnpickler(pickle.Unpickler):
    """Restricted unpickler for `.pkl` class map files.

    A class map is a plain ``{class_name: index}`` dict of built-in types, which never
    triggers ``find_class``. Disallowing all globals therefore blocks arbitrary code
    execution from a crafted class map file (CWE-502) without affecting valid files.
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted in a class map file.')


# ... and one whose allow list is a literal class attribute.
# ok: deser-pickle-load
class _TarInfoUnpickler(pickle.Unpickler):
    """Restricted unpickler for the tarinfo cache file.

    The cache only ever contains plain containers (dict/list/str/int/None) plus
    ``tarfile.TarInfo`` instances. Built-in containers are handled by pickle opcodes
    and never reach ``find_class``, so allowing only ``tarfile.TarInfo`` is sufficient
    to load valid caches while blocking arbitrary code execution from a crafted cache
    file (CWE-502, GHSA-pqww-w348-m542).
    """
    _allowed_globals = {('tarfile', 'TarInfo')}

    def find_class(self, module: str, name: str):
        if (module, name) in self._allowed_globals:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'Global {module}.{name} is not permitted in a tar info cache file.')


# The other class-attribute shapes: read through the class, through a first
# parameter named cls, by module; a docstring before the raise.
# ok: deser-pickle-load
class ClassReadUnpickler(pickle.Unpickler):
    SAFE = frozenset({("collections", "OrderedDict")})

    def find_class(self, module, name):
        if (module, name) not in ClassReadUnpickler.SAFE:
            raise pickle.UnpicklingError("global '%s.%s' is forbidden" % (module, name))
        return super().find_class(module, name)


# ok: deser-pickle-load
class ModuleAttrUnpickler(pickle.Unpickler):
    safe_modules = ("collections", "numpy")

    def find_class(cls, module, name):
        if module in cls.safe_modules:
            return super().find_class(module, name)
        raise pickle.UnpicklingError("{}.{} is not allowed".format(module, name))


# ok: deser-pickle-load
class DocumentedRefusal(pickle.Unpickler):
    def find_class(self, module, name):
        """Nothing but plain containers in these files."""
        raise pickle.UnpicklingError(f"{module}.{name}")


# ok: deser-pickle-load
class BareRefusal(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError


# Attacks on those shapes, each still flagged. A refusal in one branch only:
# ruleid: deser-pickle-load
class BranchRefusalUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in ("os", "subprocess"):
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


# ... logging instead of refusing, and no find_class at all:
# ruleid: deser-pickle-load
class LoggingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        print(f"loading global {module}.{name}")
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class PlainUnpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        return pid


# ... a class-attribute allow list that the class or the file grows later:
# ruleid: deser-pickle-load
class GrownInBodyUnpickler(pickle.Unpickler):
    _grown_body = {("collections", "OrderedDict")}
    _grown_body |= {("os", "system")}

    def find_class(self, module, name):
        if (module, name) in self._grown_body:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class GrownLaterUnpickler(pickle.Unpickler):
    _grown_later = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) not in self._grown_later:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


GrownLaterUnpickler._grown_later.add(("os", "system"))


def _allow_more():
    GrownLaterUnpickler._grown_by_update.update({("posix", "system")})


# ruleid: deser-pickle-load
class GrownByUpdateUnpickler(pickle.Unpickler):
    _grown_by_update = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self._grown_by_update:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class ReboundInInitUnpickler(pickle.Unpickler):
    _rebound = {("collections", "OrderedDict")}

    def __init__(self, f, extra):
        super().__init__(f)
        self._rebound = extra

    def find_class(self, module, name):
        if (module, name) in self._rebound:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class OverriddenUnpickler(pickle.Unpickler):
    _overridden = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self._overridden:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


class _AnyGlobal(OverriddenUnpickler):
    _overridden = ANY_GLOBAL


# ... a class-attribute list that lets the shell in:
# ruleid: deser-pickle-load
class OsAttrUnpickler(pickle.Unpickler):
    _os_allowed = {("collections", "OrderedDict"), ("os", "system")}

    def find_class(self, module, name):
        if (module, name) in self._os_allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class SubprocessAttrUnpickler(pickle.Unpickler):
    _sp_allowed = ("collections", "subprocess")

    def find_class(self, module, name):
        if module not in self._sp_allowed:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class BuiltinsAttrUnpickler(pickle.Unpickler):
    _bi_allowed = [("builtins", "eval")]

    def find_class(self, module, name):
        if (module, name) not in BuiltinsAttrUnpickler._bi_allowed:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class PosixAttrUnpickler(pickle.Unpickler):
    _px_allowed = frozenset({"posix", "nt"})

    def find_class(self, module, name):
        if module in self._px_allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ... an allow list read through another name than the class or the instance
# (a module-level `cls` can be anything), a non-literal class attribute:
cls = ANY_GLOBAL


# ruleid: deser-pickle-load
class ForeignReadUnpickler(pickle.Unpickler):
    _foreign = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in cls._foreign:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class NonLiteralAttrUnpickler(pickle.Unpickler):
    _non_literal = ANY_GLOBAL

    def find_class(self, module, name):
        if (module, name) in self._non_literal:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ... a refusal whose message loads and calls the global:
# ruleid: deser-pickle-load
class CallingRefusalUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(super().find_class(module, name)("id"))


# ... a find_class that is not what pickle calls: wrapped, rebound, or behind
# a metaclass or __getattribute__:
def _pass_through(fn):
    return PassThroughUnpickler.find_class


# ruleid: deser-pickle-load
class DecoratedUnpickler(pickle.Unpickler):
    @_pass_through
    def find_class(self, module, name):
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class ReboundMethodUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(name)

    find_class = PassThroughUnpickler.find_class


# ruleid: deser-pickle-load
class RedefinedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(name)

    def find_class(self, module, name):  # noqa: F811
        return super().find_class(module, name)


# ruleid: deser-pickle-load
class HookedUnpickler(pickle.Unpickler):
    _hooked = {("collections", "OrderedDict")}

    def __getattribute__(self, attr):
        return ANY_GLOBAL if attr == "_hooked" else object.__getattribute__(self, attr)

    def find_class(self, module, name):
        if (module, name) in self._hooked:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


class _Meta(type):
    def __getattribute__(cls, attr):
        return ANY_GLOBAL


# ruleid: deser-pickle-load
class MetaUnpickler(pickle.Unpickler, metaclass=_Meta):
    _meta = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in MetaUnpickler._meta:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class RenamedUnpickler(pickle.Unpickler):
    _renamed = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in RenamedUnpickler._renamed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


RenamedUnpickler = type("RenamedUnpickler", (RenamedUnpickler,), {"_renamed": ANY_GLOBAL})


# ... a class defined inside a function, its allow list grown by another
# function of the file (issue #17: a unit cut would stub _grow_nested and lose
# this finding; a file that names find_class goes to semgrep whole). The same
# class not grown elsewhere is excused.
def _grow_nested(cls):
    cls.NESTED_ALLOWED.add(("os", "system"))


def load_nested(data):
    # ruleid: deser-pickle-load
    class NestedUnpickler(pickle.Unpickler):
        NESTED_ALLOWED = {("collections", "OrderedDict")}

        def find_class(self, module, name):
            if (module, name) not in self.NESTED_ALLOWED:
                raise pickle.UnpicklingError(name)
            return super().find_class(module, name)

    _grow_nested(NestedUnpickler)
    return NestedUnpickler(io.BytesIO(data)).load()


def load_nested_kept(data):
    # ok: deser-pickle-load
    class NestedKeptUnpickler(pickle.Unpickler):
        NESTED_KEPT = {("collections", "OrderedDict")}

        def find_class(self, module, name):
            if (module, name) not in self.NESTED_KEPT:
                raise pickle.UnpicklingError(name)
            return super().find_class(module, name)

    return NestedKeptUnpickler(io.BytesIO(data)).load()


# ... a module-level allow list that the file grows after the class:
GROWN_GLOBALS = {("collections", "OrderedDict")}


# ruleid: deser-pickle-load
class GrownModuleListUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in GROWN_GLOBALS:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


GROWN_GLOBALS.add(("os", "system"))


# ... the other ways a file grows a class-attribute list: rebound, `^=`,
# `.add` or item assignment in the class body; `.add`, `|=`, `+=` or item
# assignment in a method; assignment, `|=`, `+=` or item assignment after the
# class; assignment from a function defined before it.
# ruleid: deser-pickle-load
class RebodiedUnpickler(pickle.Unpickler):
    _rebodied = {("collections", "OrderedDict")}
    _rebodied = ANY_GLOBAL

    def find_class(self, module, name):
        if (module, name) in self._rebodied:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class XorBodyUnpickler(pickle.Unpickler):
    _xor_body = {("collections", "OrderedDict")}
    _xor_body ^= {("os", "system")}

    def find_class(self, module, name):
        if (module, name) in self._xor_body:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class AddBodyUnpickler(pickle.Unpickler):
    _add_body = {("collections", "OrderedDict")}
    _add_body.add(("os", "system"))

    def find_class(self, module, name):
        if (module, name) in self._add_body:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class ItemBodyUnpickler(pickle.Unpickler):
    _item_body = {"collections": True}
    _item_body["os"] = True

    def find_class(self, module, name):
        if module in self._item_body:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ruleid: deser-pickle-load
class AddInMethodUnpickler(pickle.Unpickler):
    _add_method = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) not in self._add_method:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)

    def allow(self, module, name):
        self._add_method.add((module, name))


# ruleid: deser-pickle-load
class OrInMethodUnpickler(pickle.Unpickler):
    _or_method = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) not in self._or_method:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)

    def allow(self, extra):
        type(self)._or_method |= extra


# ruleid: deser-pickle-load
class PlusInMethodUnpickler(pickle.Unpickler):
    _plus_method = ["collections", "numpy"]

    def find_class(self, module, name):
        if module not in self._plus_method:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)

    def allow(self, extra):
        self._plus_method += extra


# ruleid: deser-pickle-load
class ItemInMethodUnpickler(pickle.Unpickler):
    _item_method = {"collections": True}

    def find_class(self, module, name):
        if module not in self._item_method:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)

    def allow(self, module):
        self._item_method[module] = True


# ruleid: deser-pickle-load
class SetAfterUnpickler(pickle.Unpickler):
    _set_after = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self._set_after:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


SetAfterUnpickler._set_after = ANY_GLOBAL


# ruleid: deser-pickle-load
class OrAfterUnpickler(pickle.Unpickler):
    _or_after = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self._or_after:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


OrAfterUnpickler._or_after |= {("os", "system")}


# ruleid: deser-pickle-load
class PlusAfterUnpickler(pickle.Unpickler):
    _plus_after = ("collections",)

    def find_class(self, module, name):
        if module in PlusAfterUnpickler._plus_after:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


PlusAfterUnpickler._plus_after += ("os",)


# ruleid: deser-pickle-load
class ItemAfterUnpickler(pickle.Unpickler):
    _item_after = {"collections": True}

    def find_class(self, module, name):
        if module in self._item_after:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


ItemAfterUnpickler._item_after["os"] = True


def _swap_list():
    SetEarlierUnpickler._set_earlier = ANY_GLOBAL


# ruleid: deser-pickle-load
class SetEarlierUnpickler(pickle.Unpickler):
    _set_earlier = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self._set_earlier:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ... find_class replaced on the class after its definition:
# ruleid: deser-pickle-load
class PatchedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(name)


PatchedUnpickler.find_class = PassThroughUnpickler.find_class


# ... module-level lists grown before the class, or by `|=`, `+=` or item
# assignment after it:
EARLY_GLOBALS = {("collections", "OrderedDict")}
EARLY_GLOBALS.update({("os", "system")})


# ruleid: deser-pickle-load
class EarlyGrownUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in EARLY_GLOBALS:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


OR_GLOBALS = {("collections", "OrderedDict")}


# ruleid: deser-pickle-load
class OrGrownUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in OR_GLOBALS:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


OR_GLOBALS |= {("os", "system")}
PLUS_MODULES = ["collections"]


# ruleid: deser-pickle-load
class PlusGrownUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module not in PLUS_MODULES:
            raise pickle.UnpicklingError(name)
        return super().find_class(module, name)


PLUS_MODULES += ["os"]
ITEM_MODULES = {"collections": True}


# ruleid: deser-pickle-load
class ItemGrownUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in ITEM_MODULES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


ITEM_MODULES["os"] = True


# ruleid: deser-pickle-load
class PlusBodyUnpickler(pickle.Unpickler):
    _plus_body = ["collections"]
    _plus_body += ["os"]

    def find_class(self, module, name):
        if module in self._plus_body:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(name)


# ... a find_class that grows its own list once one allowed global went by:
# ruleid: deser-pickle-load
class SelfGrowingUnpickler(pickle.Unpickler):
    _self_growing = {("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) not in self._self_growing:
            raise pickle.UnpicklingError(name)
        self._self_growing.add(("os", "system"))
        return super().find_class(module, name)


INNER_GLOBALS = {("collections", "OrderedDict")}


# ruleid: deser-pickle-load
class InnerGrownUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in INNER_GLOBALS:
            raise pickle.UnpicklingError(name)
        INNER_GLOBALS.add(("os", "system"))
        return super().find_class(module, name)


# Issue #16: the loaders looked up by name or reached through another class.
def looked_up(path, blob):
    from multiprocessing.reduction import ForkingPickler

    # ruleid: deser-pickle-load
    df = getattr(pd, "read_pickle")(path)
    # ruleid: deser-pickle-load
    df2 = getattr(pd, "read_" + "pickle")(path)
    # ruleid: deser-pickle-load
    df3 = vars(pd)["read_pi" "ckle"](path)
    # ruleid: deser-pickle-load
    df4 = getattr(importlib.import_module("pan" + "das"), "read_pickle")(path)
    # ruleid: deser-pickle-load
    obj = vars(pickle)["loads"](blob)
    # ruleid: deser-pickle-load
    obj2 = pickle.__dict__["lo" + "ads"](blob)
    # ruleid: deser-pickle-load
    obj3 = ForkingPickler.loads(blob)
    # ok: deser-pickle-load
    csv = getattr(pd, "read_csv")(path)
    # ok: deser-pickle-load
    getattr(df, "to_pickle")(path + ".bak")
    return df, df2, df3, df4, obj, obj2, obj3, csv


# A find_class that imports whatever the stream names is no restriction.
# ruleid: deser-pickle-load
class ImportingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return getattr(importlib.import_module(module), name)
