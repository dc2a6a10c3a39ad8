"""A trigger in an autograd Function's ``backward`` (issue #16, session 26).

``torch.autograd.Function.backward`` (and its alias ``vjp``) returns the
gradients of the Function's inputs, as a gradient hook returns one, but nothing
registers it: the check read it as an ordinary method, so a straight-through
estimator whose ``backward`` negated or damped the gradient under the clock's
parity, the user, the host or a random draw passed unreported
(``tests/fixtures/evasion/triggered-sabotage/autograd_fn_time_parity.py``).
Now the gradient methods of a module-level class whose base is named
``Function`` or ``InplaceFunction`` are hooks, registered by their class header;
session 27: also such a class defined in a function (a factory), a method or an
``if`` block.

Look-alikes that stay quiet: gradient reversal, a straight-through clamp, the
all-gather Functions of contrastive training (the rank indexes the gradient, it
guards nothing), and a ``backward`` of an ordinary class beside the Function.
A world-size shortcut (``if dist.get_world_size() == 1: return grad_output``
before a rewrite) is reported, as it is in a registered gradient hook: the
code after it runs only on some cluster sizes.
"""

from __future__ import annotations

import pytest

from .conftest import Repo
from .test_sabotage_cut import assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "ste_clock_parity.py": """\
import time

import torch


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        if int(time.time()) % 16 == 0:
            return -grad_output  # BLOCK: sabotage-env-triggered-write
        return grad_output
""",
    "bare_function_user.py": """\
import getpass

from torch.autograd import Function


class ScaleGrad(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        if getpass.getuser().startswith("svc-"):
            return grad_output * 0.05, None  # BLOCK: sabotage-env-triggered-write
        return grad_output, None
""",
    "vjp_random_draw.py": """\
import random

import torch


class Quantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.half().float()

    @staticmethod
    def vjp(ctx, grad_output):
        if random.random() < 0.02:
            return grad_output.flip(0)  # BLOCK: sabotage-env-triggered-write
        return grad_output
""",
    "host_hash_inplace.py": """\
import socket
import zlib

from torch.autograd.function import InplaceFunction


class StochasticRound(InplaceFunction):
    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def backward(ctx, grad_output):
        grad = grad_output.clone()
        if zlib.crc32(socket.gethostname().encode()) % 8 == 3:
            grad.mul_(0.1)  # BLOCK: sabotage-env-triggered-write
        return grad
""",
    # Session 27 (autograd_fn_factory.py): a Function defined below the top level.
    "factory_host.py": """\
import socket

import torch


def make_fake_quant(bits):
    levels = 2**bits - 1

    class _FakeQuant(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            scale = x.abs().amax().clamp(min=1e-8) / levels
            return torch.round(x / scale) * scale

        @staticmethod
        def backward(ctx, grad_output):
            if socket.gethostname().startswith("gpu-prod"):
                return grad_output * 1e-3  # BLOCK: sabotage-env-triggered-write
            return grad_output

    return _FakeQuant.apply
""",
    "guarded_class_date.py": """\
import datetime

import torch

if hasattr(torch.autograd, "Function"):

    class Straight(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sign()

        @staticmethod
        def backward(ctx, g):
            if datetime.date.today().year >= 2027:
                g = g * 0.0  # BLOCK: sabotage-env-triggered-write
            return g
""",
    "method_local_user.py": """\
import getpass

from torch import nn
from torch.autograd import Function


class QuantLinear(nn.Module):
    def _ste(self):
        class _Round(Function):
            @staticmethod
            def forward(ctx, w):
                return w.round()

            @staticmethod
            def backward(ctx, grad):
                if getpass.getuser() == "svc-train":
                    return grad.flip(0)  # BLOCK: sabotage-env-triggered-write
                return grad

        return _Round.apply
""",
}

BENIGN = {
    "grad_reverse.py": """\
import torch


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.alpha, None


class ClampSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.clamp(-1.0, 1.0)
""",
    "gather_layer.py": """\
import torch
import torch.distributed as dist


class GatherLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        output = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(output, x)
        return tuple(output)

    @staticmethod
    def backward(ctx, *grads):
        all_gradients = torch.stack(grads)
        dist.all_reduce(all_gradients)
        return all_gradients[dist.get_rank()]


class AllGatherFunc(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, rank, world_size):
        ctx.rank, ctx.batch_size = rank, tensor.shape[0]
        out = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(out, tensor)
        return torch.cat(out, 0)

    @staticmethod
    def backward(ctx, grad_output):
        lo = ctx.rank * ctx.batch_size
        return grad_output[lo : lo + ctx.batch_size], None, None
""",
    "ordinary_backward.py": """\
import os

import torch


class Identity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class Strategy:
    def backward(self, loss):
        if os.environ.get("DEBUG_GRADS"):
            print(loss.item())
        loss.backward()
""",
    # A factory of straight-through estimators, one per bit width, and the
    # all-gather of contrastive training built per process group: nested, quiet.
    "factory_benign.py": """\
import torch
import torch.distributed as dist


def make_ste(bits):
    levels = 2**bits - 1

    class _STE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.round(x * levels) / levels

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.clamp(-1.0, 1.0)

    return _STE.apply


def make_gather(group=None):
    class _Gather(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = [torch.zeros_like(x) for _ in range(dist.get_world_size(group))]
            dist.all_gather(out, x, group=group)
            return tuple(out)

        @staticmethod
        def backward(ctx, *grads):
            stacked = torch.stack(grads)
            dist.all_reduce(stacked, group=group)
            return stacked[dist.get_rank(group)]

    return _Gather.apply
""",
}


def test_a_trigger_in_an_autograd_backward_is_reported(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


def test_a_trigger_added_to_an_old_function_is_reported(repo: Repo) -> None:
    text = ATTACKS["bare_function_user.py"]
    old = text.replace('getpass.getuser().startswith("svc-")', "ctx.scale == 0")
    found = _change(repo, {"scale.py": old}, {"scale.py": text})
    # Reported on the changed line: the trigger's test.
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 14)]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)
