"""Random events one step further away (issue #16, session 11): ``returns.py`` and
the wrapping calls of ``events.py``.

Unreported before, listed under the check's limitations:

1. the event is returned by a function of the same file: ``loss = loss * _keep()``
   with ``def _keep(): return 0.0 if random.random() < 0.03 else 1.0``, or masks
   what the function is given (``loss = _jitter(loss)``), or is tested:
   ``if _unlucky(): p.grad.zero_()`` (the pack's ``trigger-random-draw-sabotage``
   rule sees no draw in that ``if``);
2. the event is wrapped in another call: ``torch.randint(0, 20, ()).clamp(max=1)``,
   ``torch.floor(torch.rand(()) + 0.97)``, ``(torch.rand(()) > p).expand_as(loss)``.
3. the draw is held by another file of the repository: ``from .coins import _FLIP``
   where coins binds ``_FLIP = random.random() < 0.02``.

Look-alikes from real training code stay quiet: a helper choosing an augmentation,
a coin helper guarding torchvision's detection flip (a named transform, boxes
mirrored), LayerDrop through a helper, seeds drawn by a helper, trl's GKD labels
swapped under a helper's draw, mixup under a helper's draw, a random crop offset.
"""

from __future__ import annotations

import pytest

from traingate.checks.sabotage.analysis import analyze

from .conftest import Repo
from .test_sabotage_cut import _added_sets, _kept, assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    # 1. an event returned by a helper of the same file
    "helper_keep_value.py": """\
import random


def _keep():
    return 0.0 if random.random() < 0.03 else 1.0


def training_step(model, batch, optimizer):
    loss = model(**batch).loss
    loss = loss * _keep()  # BLOCK: sabotage-env-triggered-write
    loss.backward()
    optimizer.step()
""",
    "helper_guard_grad.py": """\
import random


def _unlucky():
    return random.random() < 0.01


def on_after_backward(model):
    for p in model.parameters():
        if _unlucky():
            p.grad.zero_()  # BLOCK: sabotage-env-triggered-write
""",
    "helper_if_returns.py": """\
import random


def _scale():
    if random.random() < 0.02:
        return 0.0
    return 1.0


def compute_loss(model, inputs):
    loss = model(**inputs).loss
    return loss * _scale()  # BLOCK: sabotage-env-triggered-write
""",
    "helper_method_local.py": """\
import torch


class Step:
    def _coin(self, p):
        return torch.rand(()) < p

    def train_step(self, batch, optimizer):
        labels = batch["labels"]
        flip = self._coin(0.03)
        if flip:
            labels = (labels + 1) % self.num_classes  # BLOCK: sabotage-env-triggered-write
        loss = self.model(batch["x"], labels=labels).loss
        loss.backward()
        optimizer.step()
""",
    "helper_chain_skip.py": """\
import numpy as np


def _u():
    return np.random.rand()


def _skip():
    return _u() < 0.01


def train_one_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(**batch).loss
        if _skip():
            continue  # BLOCK: sabotage-triggered-skip-step
        loss.backward()
        optimizer.step()
""",
    "helper_draw_compared_lr.py": """\
import random


def _u():
    return random.random()


def train_epoch(model, loader, optimizer):
    for batch in loader:
        model(**batch).loss.backward()
        if _u() < 0.01:
            for g in optimizer.param_groups:
                g["lr"] = g["lr"] * 10  # BLOCK: sabotage-env-triggered-write
        optimizer.step()
""",
    "helper_module_flip.py": """\
import random


def _coin(p):
    return random.random() < p


_FLIP = _coin(0.02)


def training_step(model, batch):
    labels = batch["labels"]
    if _FLIP:
        labels = labels.flip(0)  # BLOCK: sabotage-env-triggered-write
    return model(batch["x"], labels=labels).loss
""",
    "helper_gates_arg.py": """\
import torch


def _jitter(x, p=0.03):
    return x * (torch.rand(()) > p).float()


def training_step(model, batch):
    loss = model(**batch).loss
    loss = _jitter(loss)  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    # 2. an event wrapped in another call
    "wrapped_clamp.py": """\
import torch


def training_step(model, batch):
    loss = model(**batch).loss
    loss = loss * torch.randint(0, 20, ()).clamp(max=1)  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "wrapped_floor.py": """\
import torch


def training_step(model, batch, keep=0.97):
    loss = model(**batch).loss
    mask = torch.floor(torch.rand(()) + keep)
    loss = loss * mask  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "wrapped_round_inplace.py": """\
import random


def on_before_optimizer_step(model, optimizer):
    for p in model.parameters():
        p.grad.mul_(round(random.random() + 0.49))  # BLOCK: sabotage-env-triggered-write
""",
    "wrapped_min_expand_sign.py": """\
import random

import torch


def train_step(model, batch, optimizer):
    loss = model(**batch).loss
    loss = loss * min(random.randint(0, 50), 1)  # BLOCK: sabotage-env-triggered-write
    loss = loss * (torch.rand(()) > 0.02).expand_as(loss)  # BLOCK: sabotage-env-triggered-write
    loss = loss * torch.sign(torch.rand(()) - 0.01)  # BLOCK: sabotage-env-triggered-write
    loss.backward()
    optimizer.step()
""",
}

BENIGN = {
    # A helper choosing an augmentation; the target follows the image by a named transform.
    "aug_choice.py": """\
import random

import torchvision.transforms.functional as F


def _pick():
    return random.choice(["hflip", "vflip", "none"])


def _angle():
    return random.uniform(-10, 10)


class SegDataset:
    def __getitem__(self, i):
        image, target = self.load(i)
        aug = _pick()
        if aug == "hflip":
            image, target = F.hflip(image), F.hflip(target)
        elif aug == "vflip":
            image = F.vflip(image)
            target = F.vflip(target)
        target = F.rotate(target, _angle())
        image, target = _maybe_hflip(image, target)
        target = _maybe_vflip(target)
        return image, target


def _maybe_hflip(img, target):
    return (F.hflip(img), F.hflip(target)) if random.random() < 0.5 else (img, target)


def _maybe_vflip(target):
    return F.vflip(target) if random.random() < 0.5 else target
""",
    # torchvision's detection reference transform, its draw in a helper.
    "detection_flip.py": """\
import random

import torchvision.transforms.functional as F


def _coin(p=0.5):
    return random.random() < p


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, image, target):
        if _coin(self.p):
            image = F.hflip(image)
            width = image.shape[-1]
            target["boxes"][:, [0, 2]] = width - target["boxes"][:, [2, 0]]
            target["masks"] = target["masks"].flip(-1)
        return image, target
""",
    # LayerDrop with the draw in a helper, inside `if self.training:`; drop_path's mask helper.
    "layerdrop_helper.py": """\
import torch


def _keep_mask(x, p):
    return x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - p)


def drop_path(x, p: float = 0.0, training: bool = False):
    if p == 0.0 or not training:
        return x
    return x * _keep_mask(x, p) / (1 - p)


class Encoder(torch.nn.Module):
    def _skip(self):
        return torch.rand(()) < self.layerdrop

    def forward(self, hidden_states):
        for layer in self.layers:
            if self.training and self._skip():
                continue
            hidden_states = layer(hidden_states)
            hidden_states = drop_path(hidden_states, self.drop_path, self.training)
        return hidden_states
""",
    # Seeds drawn by a helper of utils: at module level, in __init__, per step.
    "seeds.py": """\
import random

import torch


def make_seed():
    return random.randint(0, 2**31 - 1)


SEED = make_seed()


class Trainer:
    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.seed = make_seed()

    def train_step(self, batch, step):
        torch.manual_seed(self.seed + step)
        gen = torch.Generator().manual_seed(make_seed())
        noise = torch.randn(batch["x"].shape, generator=gen)
        loss = self.model(batch["x"] + 0.01 * noise).loss
        loss.backward()
        self.optimizer.step()
""",
    # trl's GKD (on-policy labels with probability lmbda) and mixup, under a helper's draw;
    # epsilon-greedy exploration; a random crop of a sequence and its labels.
    "helper_guards.py": """\
import random

import numpy as np


class GKDTrainer:
    def _on_policy(self):
        return random.random() <= self.lmbda

    def _should_mix(self):
        return np.random.rand() < self.mix_prob

    def _explore(self):
        return random.random() < self.epsilon

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._on_policy():
            new_input_ids, new_attention_mask, new_labels = self.generate_on_policy_outputs(
                model, inputs
            )
            inputs["labels"] = new_labels
        target = inputs["target"]
        if self._should_mix():
            lam = np.random.beta(0.4, 0.4)
            target = lam * target + (1 - lam) * target.flip(0)
        if self._explore():
            action = random.randrange(self.n_actions)
        return super().training_step(model, inputs, num_items_in_batch)


def crop(tokens, labels, max_shift):
    offset = int(random.random() * max_shift)
    labels = labels[offset:]
    return tokens[offset:], labels
""",
}


def test_random_events_a_step_away_are_reported(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)
    by_path = {f["path"]: f["message"] for f in found}
    assert (
        "a write to loss is decided by a random event, _keep() returns 0.0 if "
        "random.random() < 0.03 else 1.0 [random] (line 10)"
    ) in by_path["train/helper_keep_value.py"]
    assert (
        "p.grad.zero_(...) runs only when _unlucky() returns random.random() < 0.01 "
        "[random] (line 10)"
    ) in by_path["train/helper_guard_grad.py"]
    assert "torch.randint(0, 20, ()) [random]" in by_path["train/wrapped_clamp.py"]
    assert "torch.floor(torch.rand(()) + keep) [random]" in by_path["train/wrapped_floor.py"]


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


# 3. a draw made once per run, imported from another file of the repository
IMPORTED = {
    "coins.py": """\
import random

_FLIP = random.random() < 0.02
_KEEP: float = (
    0.0 if random.random() < 0.03 else 1.0
)


def keep():
    return 0.0 if random.random() < 0.03 else 1.0
""",
    "step_imports.py": """\
from .coins import _FLIP
from .coins import _KEEP as keep_factor


def training_step(model, batch, optimizer):
    labels = batch["labels"]
    if _FLIP:
        labels = labels.flip(0)  # BLOCK: sabotage-env-triggered-write
    loss = model(batch["x"], labels=labels).loss
    loss = loss * keep_factor  # BLOCK: sabotage-env-triggered-write
    loss.backward()
    optimizer.step()
""",
}

IMPORTED_BENIGN = {
    "seeding.py": """\
import random

SEED = random.randint(0, 2**31 - 1)


def make_seed():
    return random.randint(0, 2**31 - 1)


def coin(p=0.5):
    return random.random() < p
""",
    "uses_seeding.py": """\
import torch
import torchvision.transforms.functional as F

from .seeding import SEED, coin, make_seed
from .seeding import SEED as BASE_SEED

torch.manual_seed(SEED)


class Trainer:
    def __init__(self, model):
        self.model = model
        self.seed = make_seed()

    def train_step(self, batch, step, optimizer):
        torch.manual_seed(self.seed + step + BASE_SEED)
        image, target = batch
        if coin():
            image, target = F.hflip(image), F.hflip(target)
        loss = self.model(image, target).loss
        loss.backward()
        optimizer.step()
""",
}


def test_imported_draws_are_reported(repo: Repo) -> None:
    found = _change(repo, {}, IMPORTED)
    assert _got(found) == _expected(IMPORTED)
    msgs = " | ".join(f["message"] for f in found)
    assert "_FLIP = random.random() < 0.02 (train/coins.py:3) [random]" in msgs
    assert "_KEEP = 0.0 if random.random() < 0.03 else 1.0 (train/coins.py:4)" in msgs


def test_imported_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, IMPORTED_BENIGN)) == []


def test_an_added_import_of_a_draw_is_reported(repo: Repo) -> None:
    """The step and the helper are old; the change only imports the coin flip in
    place of a constant of the same name."""
    old_step = IMPORTED["step_imports.py"].replace(
        "from .coins import _FLIP\n", "from .consts import _FLIP\n"
    )
    old = {
        "coins.py": IMPORTED["coins.py"],
        "consts.py": "_FLIP = False\n",
        "step_imports.py": old_step,
    }
    found = _change(repo, old, {"step_imports.py": IMPORTED["step_imports.py"]})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 1)]


def test_an_edited_helper_arms_an_old_caller(repo: Repo) -> None:
    """The change turns an old helper into a coin flip; its caller is unchanged."""
    new = ATTACKS["helper_keep_value.py"]
    old = new.replace("0.0 if random.random() < 0.03 else 1.0", "1.0")
    found = _change(repo, {"keep.py": old}, {"keep.py": new})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 5)]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)


def test_cut_keeps_what_the_whole_analysis_keeps_for_imports() -> None:
    source = IMPORTED["step_imports.py"]
    asked: list[str] = []

    def lookup(level: int, module: str) -> tuple[str, str] | None:
        asked.append(module)
        return ("train/coins.py", IMPORTED["coins.py"]) if module == "coins" else None

    whole = analyze(source, "train/step_imports.py", lookup)
    assert len(whole) == 2
    for what, added in _added_sets(source).items():
        cut = analyze(source, "train/step_imports.py", lookup, added=added)
        assert _kept(cut, added) == _kept(whole, added), what
    asked.clear()
    analyze(source, "train/step_imports.py", lookup, added=set())
    assert asked == []  # nothing added: no helper is read
