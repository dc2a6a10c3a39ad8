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
