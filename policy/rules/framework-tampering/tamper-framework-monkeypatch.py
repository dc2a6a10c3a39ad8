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
