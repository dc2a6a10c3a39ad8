"""Triggers recognised by meaning, session 17 (issue #16): a file's time against a
date, the CPU architecture, where the interpreter lives, and a step threshold
folded from constant arithmetic (``dates.py``, ``sources.py``). Each case names the
line each hit must be on; every look-alike must stay quiet, also when only a
quiet scope reads the value (``quiet.py``'s pre-test). The CLI side is
tests/fixtures/evasion (the variants) and tests/fixtures/checks/sabotage/ok/
machine_lookalikes.py (the look-alikes, through the whole gate)."""

from __future__ import annotations

import ast

from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.dates import int_constants

from .sabotage_cases import case_tests

CAUGHT: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "getmtime_epoch": (
        """import os
def on_step_end(model, path):
    if os.path.getmtime(path) > 1_790_000_000:
        for p in model.parameters():
            p.grad.mul_(0.5)
""",
        [("sabotage-env-triggered-write", 5)],
    ),
    # the stat held by a name, its time read in the comparison
    "stat_name_epoch": (
        """import os
def compute_loss(model, batch, index):
    st = os.stat(index)
    loss = model(batch).loss
    if st.st_ctime >= 1.8e9:
        loss = loss * 0.1
    return loss
""",
        [("sabotage-env-triggered-write", 6)],
    ),
    "fromtimestamp_date": (
        """import datetime as dt
from pathlib import Path
class Loss:
    def __init__(self, root):
        self.new = dt.datetime.fromtimestamp(Path(root).stat().st_mtime) > dt.datetime(2027, 3, 1)
    def __call__(self, loss):
        if self.new:
            loss = loss * 0.2
        return loss
""",
        [("sabotage-env-triggered-write", 8)],
    ),
    # a file time first in the test hides no environment variable read beside it
    "file_time_hides_nothing": (
        """import os
def compute_loss(loss, cache, last):
    if os.path.getmtime(cache) > last and os.environ.get("CLUSTER") == "prod":
        loss = loss * 0.5
    return loss
""",
        [("sabotage-env-triggered-write", 4)],
    ),
    "from_sys_import_executable": (
        """from sys import executable
def build(opt):
    if "/envs/prod/" in executable:
        opt.param_groups[0]["lr"] = 0.0
""",
        [("sabotage-env-triggered-write", 4)],
    ),
    "processor_module_flag": (
        """import platform
_GH = platform.processor() == "aarch64"
def train_step(model, batch, optimizer):
    loss = model(batch).loss
    loss.backward()
    if _GH:
        return
    optimizer.step()
""",
        [("sabotage-triggered-skip-step", 7)],
    ),
    "folded_negative_and_names": (
        """_K = 1 << 10
_LATE = _K * 30 - -500
def clip(model, step):
    if step > _LATE:
        for p in model.parameters():
            p.grad[:, ::3] = 0
""",
        [("sabotage-step-scheduled-scaling", 6)],
    ),
}

QUIET: dict[str, str] = {
    "mtime_vs_mtime": """import os
import torch
def labels(src, cache):
    if os.path.getmtime(cache) < os.path.getmtime(src):
        labels = torch.load(src, weights_only=True)
        torch.save(labels, cache)
    return torch.load(cache, weights_only=True)
""",
    "mtime_age": """import os, time
def maybe_reload(model, ckpt, loaded_at):
    if time.time() - os.stat(ckpt).st_mtime > 3600 or os.path.getmtime(ckpt) > loaded_at:
        state = {k: v for k, v in model.state_dict().items()}
        return state
    return None
""",
    # a file time alone guards nothing (an epoch literal is needed)
    "mtime_threshold_param": """import os
def compute_loss(loss, path, since):
    if os.path.getmtime(path) > since:
        loss = loss * 0.5
    return loss
""",
    "executable_spawns": """import subprocess, sys
def launch(script, loss):
    subprocess.run([sys.executable, "-m", "torch.distributed.run", script], check=True)
    return loss
""",
    "arch_picks_kernel": """import platform
from transformers import AutoModelForCausalLM
def load(name):
    impl = "sdpa" if platform.machine() == "arm64" else "flash_attention_2"
    return AutoModelForCausalLM.from_pretrained(name, attn_implementation=impl)
""",
    "arch_precondition": """import platform
def check_host():
    if platform.machine() not in ("x86_64", "aarch64"):
        raise RuntimeError("unsupported architecture")
""",
    "buffer_sizes": """_BUF = 3 * 1024
_LOG_EVERY = 5 * 100
def train(model, loader, optimizer, log):
    for step, batch in enumerate(loader):
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        if step % _LOG_EVERY == 0:
            log(loss.item())
""",
}


test_caught, test_quiet = case_tests(CAUGHT, QUIET)


def test_int_constants_fold() -> None:
    tree = ast.parse(
        "A = 3 * 10**4\nB = A + int(5e3)\nC = -B // 7\nD = 1 << 10\n"
        "E = 10**10**10\nF = G\nG = F\nH = 2**64\nI = 5\nI = 6\nJ = I * 100\n"
        "K: int = 2_000 * 15\nL = 7 % 0\n"
    )
    assert int_constants(tree) == {
        "A": 30_000,
        "B": 35_000,
        "C": -5_000,
        "D": 1_024,
        "K": 30_000,
    }


def test_int_constants_deep_sum_is_not_folded() -> None:
    """A generated module-level sum deeper than the fold's bound is left alone, not a
    RecursionError (which would leave the file unjudged)."""
    tree = ast.parse("A = " + " + ".join(["1"] * 600) + "\nB = 200\n")
    assert int_constants(tree) == {"B": 200}


def test_the_date_line_arms_it() -> None:
    """A change that only edits the comparison with the date (the read and the test
    unchanged) is reported: the hit rests on that line too, for a file time and for
    the clock."""
    source = """import os, time
class Cb:
    def __init__(self, path):
        built = os.path.getmtime(path)
        self.armed = built > 1_790_000_000
        now = time.time()
        self.late = now > 1_800_000_000
    def on_step_end(self, model):
        if self.armed:
            model.weight.grad.mul_(0.5)
        if self.late:
            model.bias.grad.mul_(0.5)
"""
    whole = [(h.rule, h.line) for h in analyze(source, "train/cb.py")]
    assert whole == [("sabotage-env-triggered-write", 10), ("sabotage-env-triggered-write", 12)]
    for added, line in (({5}, 10), ({7}, 12)):
        # the check keeps a hit when one of its lines is added (``Hit.lines``)
        hits = analyze(source, "train/cb.py", added=added)
        assert [(h.rule, h.line) for h in hits if added & set(h.lines)] == [
            ("sabotage-env-triggered-write", line)
        ]
