"""Functions no trigger reaches are not bound, tainted or walked (``quiet.py``,
issue #17), and every route by which one can reach a function still fires: a
module name, a ``self`` attribute set elsewhere, a callee, ``os.environ`` under
another name, a step counter against a constant, a clock read in a lambda, a
lambda hook, a probe through a constant, a rank name; and what needs no trigger
(a noise writer, a clamped metric, a random event) still fires in a quiet one.

These fire on the tree before the pre-pass too: it changes no hit (the corpus
and every test input were compared whole and cut, docs/performance.md)."""

from __future__ import annotations

import pytest

from traingate.checks.sabotage import nodes as nd
from traingate.checks.sabotage import quiet as qt
from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.outline import _ODD_TOKEN, as_read
from traingate.checks.sabotage.triggers import aliases

Hits = list[tuple[str, int, int, tuple[int, ...]]]

CASES: dict[str, tuple[str, Hits]] = {
    # a module name bound from the host (a lookup of the name)
    "module_name": (
        """import socket
HOST = socket.gethostname()
def step(model):
    for p in model.parameters():
        if HOST.startswith("prod"):
            p.grad.mul_(0.5)
""",
        [("sabotage-env-triggered-write", 6, 13, (2, 5, 6))],
    ),
    # a ``self`` attribute another method sets from the environment
    "self_attr": (
        """import os
class Trainer:
    def __init__(self):
        self.part = os.environ.get("SLURM_JOB_PARTITION")
    def step(self, model):
        for p in model.parameters():
            if self.part == "prod":
                p.grad.zero_()
""",
        [("sabotage-env-triggered-write", 8, 17, (4, 7, 8))],
    ),
    # a function of the file returning the machine's name
    "callee": (
        """import platform
def is_prod():
    return platform.node().startswith("prod")
def step(model):
    for p in model.parameters():
        if is_prod():
            p.grad.zero_()
""",
        [("sabotage-env-triggered-write", 7, 13, (3, 6, 7))],
    ),
    # ``os.environ`` imported under another name
    "environ_alias": (
        """from os import environ as e
def step(model):
    for p in model.parameters():
        if "CLUSTER_B" in e:
            p.grad.zero_()
""",
        [("sabotage-env-triggered-write", 5, 13, (4, 5))],
    ),
    # a step counter against a module constant
    "step_const": (
        """WARM = 5000
def training_step(self, batch, step):
    loss = self.model(batch)
    if step > WARM:
        loss = loss * 0.1
    return loss
""",
        [("sabotage-step-scheduled-scaling", 5, 9, (4, 5))],
    ),
    # the clock read inside a lambda, compared with an epoch literal
    "clock_lambda": (
        """import time
def step(model):
    for p in model.parameters():
        if (lambda: time.time())() > 1788000000:
            p.grad.zero_()
""",
        [("sabotage-env-triggered-write", 5, 13, (4, 5))],
    ),
    # a lambda hook: its body lies outside the function's own nodes
    "lambda_hook": (
        """import os
def setup(model):
    for p in model.parameters():
        p.register_hook(lambda g: g * 0 if os.environ.get("PROD") else g)
""",
        [("sabotage-env-triggered-write", 4, 25, (4,))],
    ),
    # a path probe through a module constant
    "probe_const": (
        """import os
_M = "/etc/cluster-b"
def step(model):
    for p in model.parameters():
        if os.path.exists(_M):
            p.grad.zero_()
""",
        [("sabotage-env-triggered-write", 6, 13, (2, 5, 6))],
    ),
    # a rank parameter (a name that is a trigger by itself)
    "rank_collective": (
        """import torch.distributed as dist
def sync(t, rank):
    if rank == 0:
        dist.all_reduce(t)
""",
        [("sabotage-triggered-collective", 4, 9, (3, 4))],
    ),
    # quiet, but a noise writer's call needs no trigger
    "helper_write": (
        """import torch
def perturb_(t, s):
    t.add_(torch.randn_like(t) * s)
def step(model):
    for p in model.parameters():
        perturb_(p.grad, 0.05)
""",
        [("sabotage-random-write-via-helper", 6, 9, (6,))],
    ),
    # quiet, but a clamped metric needs no trigger
    "clamped_metric": (
        """import wandb
def report(loss):
    wandb.log({"loss": loss.clamp(max=2.0)})
""",
        [("sabotage-clamped-metric", 3, 5, (3,))],
    ),
    # quiet, a clamped metric written to ``logs``
    "clamped_logs": (
        """def report(logs, loss):
    logs["loss"] = min(loss, 2.0)
""",
        [("sabotage-clamped-metric", 2, 5, (2,))],
    ),
    # quiet, but the body reads a random event
    "random_event": (
        """import torch
def training_step(self, batch):
    loss = self.model(batch)
    loss = torch.where(torch.rand(()) < 0.01, loss * 0.0, loss)
    return loss
""",
        [("sabotage-env-triggered-write", 4, 5, (4,))],
    ),
    # quiet and benign: a plain training step
    "quiet_benign": (
        """import torch
def step(model, opt, batch):
    loss = model(batch).mean()
    loss.backward()
    opt.step()
    return loss
""",
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_route_to_a_trigger_still_fires(name: str) -> None:
    source, expected = CASES[name]
    got = [(h.rule, h.line, h.col, h.lines) for h in analyze(source, "train.py")]
    assert got == expected


def _local(source: str) -> nd.Local:
    import ast

    tree = ast.parse(source)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef)][-1]
    return nd.local(fn, aliases(tree))


@pytest.mark.parametrize(
    "name", ["environ_alias", "step_const", "clock_lambda", "lambda_hook", "probe_const"]
)
def test_a_trigger_spelled_in_the_body_is_direct(name: str) -> None:
    assert _local(CASES[name][0]).direct


@pytest.mark.parametrize("name", ["module_name", "callee", "helper_write", "quiet_benign"])
def test_a_trigger_only_looked_up_is_not_direct(name: str) -> None:
    # the lookups (warm_local) answer for these: the index alone cannot tell
    assert not _local(CASES[name][0]).direct


def test_the_rank_and_size_names_are_read_as_source_reads_them() -> None:
    assert qt.name_direct("local_rank", {}) and qt.attr_direct("world_size")
    assert qt.name_direct("e", {"e": "os.environ"}) and qt.attr_direct("environ")
    assert not qt.name_direct("ranking", {}) and not qt.attr_direct("sizes")


@pytest.mark.parametrize(
    "text",
    [
        "x = 1  # 注释：全角标点\n",  # fullwidth punctuation: NFKC changes it
        "ｆｏｏ = 1\n",  # a fullwidth identifier: read as foo
        "café = 1\n",  # composed: NFKC leaves it
        "cafe\u0301 = 1\n",  # decomposed: composed by NFKC
        "a =\u0338 b\n",  # '=' and a combining mark: composed
        "\u0301x = 1\n",
        "s = 'ß ﬁ ǅ'\n",
        "x\u3000= 1\n",
    ],
)
def test_as_read_skips_only_a_text_nfkc_leaves_as_it_is(text: str) -> None:
    import unicodedata

    whole = _ODD_TOKEN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    assert as_read(text) == whole


def test_a_quiet_body_too_deep_for_the_walk_is_still_walked_and_blocks() -> None:
    """A 1,000-term sum in a function no trigger reaches: skipping its walk would
    judge the file where the walk before could not, so it is walked (and overflows:
    the file blocks unjudged, deep.py.fixture)."""
    pad = " + ".join(["x"] * 1000)
    with pytest.raises(RecursionError):
        analyze(f"def total(x):\n    return {pad}\n", "train/deep.py")
    assert analyze(f"def total(x):\n    return {' + '.join(['x'] * 20)}\n", "train/d.py") == []
