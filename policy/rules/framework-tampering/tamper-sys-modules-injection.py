import importlib
import os
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
# Session 27: a finder put first with a slice write or +=
# ruleid: tamper-sys-modules-injection
sys.meta_path[:0] = [_Finder()]
# ruleid: tamper-sys-modules-injection
sys.meta_path[0:0] = [_Finder()]
# ruleid: tamper-sys-modules-injection
sys.meta_path += [_Finder()]
# ruleid: tamper-sys-modules-injection
sys.path_hooks[:0] = [lambda path: _Finder()]
# ruleid: tamper-sys-modules-injection
sys.path_hooks.extend([lambda path: _Finder()])
# reading the finders (a check that one is installed) stays quiet
# ok: tamper-sys-modules-injection
_have_finder = any(isinstance(f, _Finder) for f in sys.meta_path[:])
# ok: tamper-sys-modules-injection
_first_hooks = sys.path_hooks[:2]

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



# Issue #16: test doubles in fixtures and patch.dict blocks (undone after the
# test) are not flagged ...
import pytest
from unittest import mock
from unittest.mock import MagicMock


@pytest.fixture
def no_deepspeed():
    # ok: tamper-sys-modules-injection
    sys.modules["deepspeed"] = MagicMock()
    yield
    del sys.modules["deepspeed"]


@pytest.fixture(autouse=True)
def fake_wandb(monkeypatch):
    stub = types.ModuleType("wandb")
    # ok: tamper-sys-modules-injection
    sys.modules["wandb"] = stub
    # ok: tamper-sys-modules-injection
    monkeypatch.setitem(sys.modules, "mlflow", mock.MagicMock())
    yield stub


def test_without_apex():
    with mock.patch.dict(sys.modules, {"apex": None}):
        # ok: tamper-sys-modules-injection
        sys.modules["apex.amp"] = mock.Mock()


# ... a real module injected through a fixture that never undoes it, a stub
# that runs code, a call wrapping the stub, or any write at conftest import time
@pytest.fixture(autouse=True, scope="session")
def fast_kernels():
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = importlib.import_module("tests._fast_functional")
    yield


@pytest.fixture
def tracked_optimizer():
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.optim"] = MagicMock(side_effect=lambda *a: os.system("id"))
    stub = types.ModuleType("accelerate")
    # ruleid: tamper-sys-modules-injection
    sys.modules["accelerate"] = _wrap(stub)
    yield


def _wrap(mod):
    return mod


# ruleid: tamper-sys-modules-injection
sys.modules["deepspeed"] = MagicMock()


# Issue #16: more scoped test doubles: patch.dict as a decorator or with a
# string target, a stub taken out again in a finally block, the saved entry
# put back, and None (the import then fails: nothing is loaded).
@mock.patch.dict(sys.modules, {"deepspeed": MagicMock()})
def test_decorated():
    # ok: tamper-sys-modules-injection
    sys.modules["deepspeed.ops"] = MagicMock()


def test_string_target():
    with mock.patch.dict("sys.modules", {"apex": None}):
        # ok: tamper-sys-modules-injection
        sys.modules["apex.amp"] = mock.Mock()


def test_restored_in_finally(flag):
    saved = sys.modules.get("bitsandbytes")
    # ok: tamper-sys-modules-injection
    sys.modules["bitsandbytes"] = MagicMock()
    try:
        assert flag
    finally:
        if saved is None:
            del sys.modules["bitsandbytes"]
        else:
            # ok: tamper-sys-modules-injection
            sys.modules["bitsandbytes"] = saved


def test_stub_in_try():
    fake = types.ModuleType("flash_attn")
    try:
        # ok: tamper-sys-modules-injection
        sys.modules["flash_attn"] = fake
    finally:
        sys.modules.pop("flash_attn", None)


def test_missing_apex():
    # ok: tamper-sys-modules-injection
    sys.modules["apex"] = None


# ... but not a finally that takes out another key or none, a real module, a
# helper that is not a test, the saved entry of another key, or a real
# module under a decorator.
def test_restores_other_key():
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.optim"] = MagicMock()
    try:
        pass
    finally:
        del sys.modules["torch.optim.lr_scheduler"]


def test_real_module_restored():
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = importlib.import_module("tests._fast_functional")
    try:
        pass
    finally:
        sys.modules.pop("torch.nn.functional", None)


def install_stub():
    # ruleid: tamper-sys-modules-injection
    sys.modules["wandb"] = MagicMock()
    try:
        pass
    finally:
        sys.modules.pop("wandb", None)


def test_never_restored(flag):
    # ruleid: tamper-sys-modules-injection
    sys.modules["deepspeed"] = MagicMock()
    try:
        pass
    finally:
        if flag:
            print("a")
        else:
            print("b")


def test_put_back_other_entry():
    saved = sys.modules.get("os")
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch"] = saved


@mock.patch.dict(sys.modules, {"deepspeed": MagicMock()})
def test_decorated_real_module():
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch"] = importlib.import_module("tests._fast_torch")


def swap_during_import():
    saved = sys.modules.get("torch.nn.functional")
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = importlib.import_module("tests._fast_functional")
    import transformers  # noqa: F401
    # ok: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = saved


def swap_during_import_subscript():
    saved = sys.modules["torch.nn.functional"]
    # ruleid: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = importlib.import_module("tests._fast_functional")
    import transformers  # noqa: F401
    # ok: tamper-sys-modules-injection
    sys.modules["torch.nn.functional"] = saved
