"""Random events from another file or from ``__init__`` (issue #16, session 12).

Unreported before, listed under the check's limitations:

1. an event or a draw returned by a function imported from another file of the
   repository: ``from .utils import keep`` with ``def keep(): return 0.0 if
   random.random() < 0.03 else 1.0``, then ``loss = loss * keep()``; the bool guard
   ``if unlucky(): p.grad.zero_()``; a helper masking what it is given;
2. a module-level draw of another file bound through a function of that file
   (``_FLIP = _coin(0.02)`` in utils, imported and tested in the step);
3. an event drawn in ``__init__`` and returned by a method (``return self._keep``)
   used in the step.

Look-alikes from real training code stay quiet: an imported augmentation helper
returning a random choice, timm's ``drop_path(x, p, training)`` from a utils module,
a seed helper (``random.randint``) in utils, a ``should_log()`` helper returning
``step % n == 0``, a coin helper guarding a flip of image and target, a seed drawn in
``__init__`` and returned by a method.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traingate.checks.sabotage import returns, store
from traingate.checks.sabotage.analysis import analyze
from traingate.checks.sabotage.module import Lookup
from traingate.checks.sabotage.store import Store

from .conftest import Repo
from .test_sabotage_cut import _added_sets, _kept, assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

UTILS = """\
import random

import torch


def keep():
    return 0.0 if random.random() < 0.03 else 1.0


def unlucky():
    return random.random() < 0.01


def _coin(p):
    return random.random() < p


_FLIP = _coin(0.02)


def jitter(x, p=0.03):
    return x * (torch.rand(()) > p).float()
"""

# 1. and 2.: the step files import from utils.py (unchanged names, ordinary spelling).
ATTACKS = {
    "utils.py": UTILS,
    "step_keep.py": """\
from .utils import keep


def training_step(model, batch, optimizer):
    loss = model(**batch).loss
    loss = loss * keep()  # BLOCK: sabotage-env-triggered-write
    loss.backward()
    optimizer.step()
""",
    "step_guard.py": """\
from .utils import unlucky


def on_after_backward(model):
    for p in model.parameters():
        if unlucky():
            p.grad.zero_()  # BLOCK: sabotage-env-triggered-write
""",
    "step_skip.py": """\
from .utils import unlucky as bad_batch


def train_one_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(**batch).loss
        if bad_batch():
            continue  # BLOCK: sabotage-triggered-skip-step
        loss.backward()
        optimizer.step()
""",
    "step_gate.py": """\
from .utils import jitter


def compute_loss(model, inputs):
    loss = model(**inputs).loss
    loss = jitter(loss)  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "step_local_wrapper.py": """\
from .utils import keep


def _factor():
    return keep()


def training_step(model, batch):
    loss = model(**batch).loss
    return loss * _factor()  # BLOCK: sabotage-env-triggered-write
""",
    "step_paren_call.py": """\
from .utils import keep as k


def training_step(model, batch):
    loss = model(**batch).loss
    factor = (k)(  # the factor
    )
    return loss * factor  # BLOCK: sabotage-env-triggered-write
""",
    "hook_imports.py": """\
from .utils import keep, unlucky


def scale(grad):
    if unlucky():
        return grad * 0.0  # BLOCK: sabotage-env-triggered-write
    return grad


def rescale(grad):
    return grad * keep()  # BLOCK: sabotage-env-triggered-write


def attach(model):
    for p in model.parameters():
        p.register_hook(scale)
        p.register_hook(rescale)
""",
    "step_flip.py": """\
from .utils import _FLIP


def training_step(model, batch):
    labels = batch["labels"]
    if _FLIP:
        labels = labels.flip(0)  # BLOCK: sabotage-env-triggered-write
    return model(batch["x"], labels=labels).loss
""",
}

# 3. an event drawn once per run in __init__, handed to the step by a method.
INIT = {
    "init_keep.py": """\
import random


class Trainer:
    def __init__(self, model):
        self.model = model
        self._keep = 0.0 if random.random() < 0.03 else 1.0

    def keep_factor(self):
        return self._keep

    def training_step(self, batch):
        loss = self.model(**batch).loss
        loss = loss * self.keep_factor()  # BLOCK: sabotage-env-triggered-write
        return loss
""",
    "init_guard.py": """\
import torch


class Module:
    def setup(self, stage):
        self._p = torch.rand(())

    def unlucky(self):
        return self._p < 0.02

    def on_after_backward(self):
        if self.unlucky():
            for p in self.parameters():
                p.grad.mul_(0.0)  # BLOCK: sabotage-env-triggered-write
""",
}

BENIGN_UTILS = """\
import random

import numpy as np
import torch


def pick_aug():
    return random.choice(["hflip", "vflip", "none"])


def rand_angle():
    return random.uniform(-10, 10)


def drop_path(x, drop_prob: float = 0.0, training: bool = False):
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask / keep_prob


def make_seed():
    return random.randint(0, 2**31 - 1)


def seed_everything(seed=None):
    seed = random.randint(0, 2**31 - 1) if seed is None else seed
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


def should_log(step, every):
    return step % every == 0


def coin(p=0.5):
    return random.random() < p


SEED = make_seed()
"""

BENIGN = {
    "helpers.py": BENIGN_UTILS,
    "uses_helpers.py": """\
import torch
import torchvision.transforms.functional as F

from .helpers import SEED, coin, drop_path, make_seed, pick_aug, rand_angle
from .helpers import seed_everything, should_log


class Block(torch.nn.Module):
    def forward(self, x):
        x = x + drop_path(self.attn(x), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(x), self.drop_path_rate, self.training)


class SegDataset:
    def __getitem__(self, i):
        image, target = self.load(i)
        aug = pick_aug()
        if aug == "hflip":
            image, target = F.hflip(image), F.hflip(target)
        target = F.rotate(target, rand_angle())
        if coin():
            image, target = F.vflip(image), F.vflip(target)
        return image, target


class Trainer:
    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.seed = seed_everything()

    def train_step(self, batch, step):
        torch.manual_seed(make_seed() + step + SEED)
        loss = self.model(**batch).loss
        loss.backward()
        self.optimizer.step()
        if should_log(step, 50):
            self.log("loss", loss.item())
        return loss
""",
    # A seed and an augmentation drawn in __init__, handed out by methods.
    "init_seed.py": """\
import random

import torch
import torchvision.transforms.functional as F


class Trainer:
    def __init__(self, model):
        self.model = model
        self._seed = random.randint(0, 2**31 - 1)
        self._flip = random.random() < 0.5

    def seed(self):
        return self._seed

    def flips(self):
        return self._flip

    def train_step(self, batch, step, optimizer):
        torch.manual_seed(self.seed() + step)
        image, target = batch
        if self.flips():
            image, target = F.hflip(image), F.hflip(target)
        loss = self.model(image, target).loss
        loss.backward()
        optimizer.step()
""",
}


def test_imported_events_are_reported(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)
    by_path = {f["path"]: f["message"] for f in found}
    assert (
        "a write to loss is decided by a random event, keep() returns 0.0 if "
        "random.random() < 0.03 else 1.0 (train/utils.py:7) [random] (line 6)"
    ) in by_path["train/step_keep.py"]
    assert (
        "unlucky() returns random.random() < 0.01 (train/utils.py:11) [random]"
        in by_path["train/step_guard.py"]
    )
    assert "_FLIP = _coin(0.02) returns random.random() < p" in by_path["train/step_flip.py"]
    assert "(train/utils.py:18)" in by_path["train/step_flip.py"]


def test_events_drawn_in_init_and_returned_are_reported(repo: Repo) -> None:
    found = _change(repo, {}, INIT)
    assert _got(found) == _expected(INIT)
    by_path = {f["path"]: f["message"] for f in found}
    assert (
        "self.keep_factor() returns self._keep = 0.0 if random.random() < 0.03 else 1.0"
        in by_path["train/init_keep.py"]
    )


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


def test_an_added_import_of_a_coin_helper_is_reported(repo: Repo) -> None:
    """The step is old; the change only imports ``keep`` from the coin flip's module
    in place of a constant one."""
    step = ATTACKS["step_keep.py"]
    old = {
        "utils.py": UTILS,
        "consts.py": "def keep():\n    return 1.0\n",
        "step_keep.py": step.replace("from .utils import", "from .consts import"),
    }
    found = _change(repo, old, {"step_keep.py": step})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 1)]


def test_an_edited_init_arms_an_old_step(repo: Repo) -> None:
    """The change only turns ``self._keep = 1.0`` into a coin flip."""
    new = INIT["init_keep.py"]
    old = new.replace("0.0 if random.random() < 0.03 else 1.0", "1.0")
    found = _change(repo, {"init_keep.py": old}, {"init_keep.py": new})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 7)]


def _lookup(files: dict[str, str], asked: list[str] | None = None) -> Lookup:
    def lookup(level: int, module: str) -> tuple[str, str] | None:
        if asked is not None:
            asked.append(module)
        name = f"{module}.py"
        return (f"train/{name}", files[name]) if name in files else None

    return lookup


@pytest.mark.parametrize("name", sorted(set(ATTACKS) - {"utils.py"}))
def test_cut_keeps_what_the_whole_analysis_keeps_for_imports(name: str) -> None:
    source = ATTACKS[name]
    lookup = _lookup(ATTACKS)
    whole = analyze(source, f"train/{name}", lookup)
    assert len(whole) == len(_expected({name: source}))
    for what, added in _added_sets(source).items():
        cut = analyze(source, f"train/{name}", lookup, added=added)
        assert _kept(cut, added) == _kept(whole, added), what


@pytest.mark.parametrize("name", sorted(INIT))
def test_cut_keeps_what_the_whole_analysis_keeps_for_init(name: str) -> None:
    assert_cut_keeps_whole(INIT[name], name)


def test_a_helper_is_read_only_for_a_name_the_change_spells() -> None:
    """An unchanged step: nothing added, no helper read; a helper spelling no draw is
    never parsed for its functions."""
    asked: list[str] = []
    source = ATTACKS["step_keep.py"]
    analyze(source, "train/step_keep.py", _lookup(ATTACKS, asked), added=set())
    assert asked == []
    plain = {"utils.py": "def keep():\n    return 1.0\n"}
    before = store.STATS["events"]
    assert analyze(source, "train/step_keep.py", _lookup(plain)) == []
    assert store.STATS["events"] == before


def test_a_warm_run_reads_the_event_from_the_store(tmp_path: Path) -> None:
    source = ATTACKS["step_keep.py"]
    cold = Store(tmp_path)
    before = store.STATS["events"]
    first = analyze(source, "train/step_keep.py", _lookup(ATTACKS), store=cold)
    assert store.STATS["events"] == before + 1
    returns.release()
    warm = Store(tmp_path)
    again = analyze(source, "train/step_keep.py", _lookup(ATTACKS), store=warm)
    assert again == first and len(first) == 1
    assert store.STATS["events"] == before + 1  # computed once, then read back


# The helper's text hides its draw from a line-based reading: a string whose lines
# start at column 0 (one reads as a ``def``), a bracket continued at column 0, a
# backslash continuation, a form feed; ``outline`` cuts statements as Python does.
TRICKY = {
    "tricky.py": (
        "import random\n"
        "\n"
        "\n"
        "def keep():\n"
        '    doc = """\n'
        "def fake():\n"
        '    return 1.0\n"""\n'
        "    p = (\n"
        "0.03)\n"
        "    x = 1 + \\\n"
        "0\n"
        "    return 0.0 if random.random() < p else 1.0\n"
        "\n"
        "\n"
        "def fake():\n"
        "    return 1.0\n"
        "\n"
        "\f_FLIP = (\n"
        "keep())\n"
    ),
    "step_tricky.py": """\
from .tricky import _FLIP, keep


def training_step(model, batch):
    loss = model(**batch).loss
    if _FLIP:
        loss = loss * 0.0  # BLOCK: sabotage-env-triggered-write
    return loss * keep()  # BLOCK: sabotage-env-triggered-write
""",
}


def test_a_helper_text_that_hides_its_draw_from_lines_is_read(repo: Repo) -> None:
    assert _got(_change(repo, {}, TRICKY)) == _expected(TRICKY)


def test_the_names_a_change_calls_are_read_in_one_pass() -> None:
    """Issue #17: one search per imported name, with a comment's text open to
    backtracking, took minutes on a file with rows of '#' (the 200-file change:
    103 CPU s). Every identifier followed by a call's "(" is read in one pass;
    a "(" inside a comment is no call (a name in a comment's text before one is
    read, as the text is: a superset of the calls)."""
    from traingate.checks.sabotage.analysis import _CALLED

    text = (
        "loss = loss * keep()\n"
        "y = self.flip (\n)\n"
        "z = (gate)(x)\n"
        "w = coin # why\n(3)\n"
        "v = later\\\n(1)\n"
        "keeper = 1\n"
        "u = note  # see (the docs)\n"
        "t = rule  " + "# " * 40 + "\n"
    )
    assert set(_CALLED.findall(text)) == {"keep", "flip", "gate", "coin", "later", "why", "see"}
