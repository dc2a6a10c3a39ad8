import builtins
import builtins as _b
import importlib
import operator

_real_open = builtins.open


def _open(path, mode="r", *args, **kwargs):
    return _real_open(path, mode, *args, **kwargs)


# ruleid: tamper-builtins-override
builtins.open = _open
# ruleid: tamper-builtins-override
_b.isinstance = lambda obj, cls: True
# ruleid: tamper-builtins-override
setattr(builtins, "__import__", lambda *a, **k: None)
# ruleid: tamper-builtins-override
__builtins__["range"] = lambda *a: iter(())
# ruleid: tamper-builtins-override
importlib.import_module("builtins").float = lambda x=0: 0.0
# ruleid: tamper-builtins-override
vars(builtins)["len"] = lambda x: 0


def setup_for_distributed(is_master):
    builtin_print = builtins.print

    def print(*args, **kwargs):
        force = kwargs.pop("force", False)
        if is_master or force:
            builtin_print(*args, **kwargs)

    # ok: tamper-builtins-override
    builtins.print = print


def main(cfg):
    # ok: tamper-builtins-override
    print_fn = builtins.print
    # ok: tamper-builtins-override
    cfg["open"] = open
    # ok: tamper-builtins-override
    stats = {}
    stats["len"] = len(cfg)
    return print_fn


def _lenient_isinstance(obj, cls):
    return True


# issue #8: the namespace written through __setitem__ / operator.setitem
# ruleid: tamper-builtins-override
_b.__dict__.__setitem__("isinstance", _lenient_isinstance)
# ruleid: tamper-builtins-override
operator.setitem(vars(builtins), "range", _lenient_isinstance)
type_counts = {}
# ok: tamper-builtins-override
operator.setitem(type_counts, "isinstance", 0)
