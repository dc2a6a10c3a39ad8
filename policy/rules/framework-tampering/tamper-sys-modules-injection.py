import importlib
import operator
import sys
import types
import sys as _s

fake = types.ModuleType("torch.nn.functional")

# ruleid: tamper-sys-modules-injection
sys.modules["torch.nn.functional"] = fake
# ruleid: tamper-sys-modules-injection
_s.modules.update({"accelerate": fake})
# ruleid: tamper-sys-modules-injection
__import__("sys").modules.__setitem__("deepspeed", fake)
# ruleid: tamper-sys-modules-injection
importlib.import_module("s" + "ys").modules["transformers.trainer"] = fake


class _Finder:
    def find_spec(self, name, path, target=None):
        return None


# issue #8: operator.setitem and the dict merge operator
# ruleid: tamper-sys-modules-injection
operator.setitem(sys.modules, "wandb", fake)
# ruleid: tamper-sys-modules-injection
sys.modules |= {"transformers.trainer": fake}
# ok: tamper-sys-modules-injection
operator.setitem(sys.modules, __name__, fake)
# ruleid: tamper-sys-modules-injection
sys.meta_path.insert(0, _Finder())
# ruleid: tamper-sys-modules-injection
sys.path_hooks.append(lambda path: _Finder())

# ok: tamper-sys-modules-injection
sys.path.insert(0, "src")
# ok: tamper-sys-modules-injection
if "torch_xla" in sys.modules:
    import torch_xla  # noqa: F401
# ok: tamper-sys-modules-injection
this = sys.modules[__name__]
# ok: tamper-sys-modules-injection
transformers_mod = sys.modules.get("transformers")
# ok: tamper-sys-modules-injection
sys.path.append(str(__file__))

# ok: tamper-sys-modules-injection
sys.modules[__name__] = types.ModuleType(__name__)

