"""Random events that decide a write (issue #16, session 11): ``events.py``.

Two gaps of the sabotage check, both unreported before this session:

1. the draw is in the written value, not in an ``if``: ``loss =
   torch.where(torch.rand(()) < p, loss * 0.0, loss)``, ``loss = loss *
   (torch.rand(()) > 0.05)``, ``lr = lr * random.choice([1, 1, 1, 0])``,
   ``np.where(np.random.rand() < p, ...)`` on labels, an in-place
   ``p.grad.mul_(coin)``: one number drawn per step masks or swaps the state;
2. the draw is made once, at module level (``_FLIP = random.random() < 0.02``)
   or in ``__init__`` (``self._p = random.random()``), and tested in the step:
   one run in fifty is sabotaged all along, and the pack's
   ``trigger-random-draw-sabotage`` rule sees no draw in the ``if``.

Look-alikes from real training code stay quiet: dropout, stochastic depth and
LayerDrop (a per-sample shape, or a draw tested in the same function's ``if``),
mixup and cutmix (a Beta draw mixes, nothing is compared), label smoothing,
augmentation (a named transform of the target), MLM masking
(``torch.bernoulli(prob_matrix)``), privacy noise, epsilon-greedy exploration,
on-policy distillation (trl's GKD), a hyper-parameter search that draws a new
learning rate, and seeds drawn at module level.
"""

from __future__ import annotations

import pytest

from traingate.checks.sabotage.analysis import analyze

from .conftest import Repo
from .test_sabotage_cut import assert_cut_keeps_whole
from .test_sabotage_meaning import _change, _expected, _got

ATTACKS = {
    "where_loss.py": """\
import torch


def training_step(model, batch, optimizer, p=0.02):
    loss = model(**batch).loss
    loss = torch.where(torch.rand(()) < p, loss * 0.0, loss)  # BLOCK: sabotage-env-triggered-write
    loss.backward()
    optimizer.step()
""",
    "bernoulli_mask_loss.py": """\
import torch


def compute_loss(model, inputs):
    out = model(**inputs)
    loss = out.loss
    loss = loss * (torch.rand(()) > 0.05).float()  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "choice_lr.py": """\
import random


def train_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        for g in optimizer.param_groups:
            g["lr"] = g["lr"] * random.choice([1, 1, 1, 0])  # BLOCK: sabotage-env-triggered-write
        optimizer.step()
""",
    "np_where_labels.py": """\
import numpy as np


def collate(batch, num_classes, p=0.01):
    labels = np.array([b["label"] for b in batch])
    labels = np.where(np.random.rand() < p, (labels + 1) % num_classes, labels)  # BLOCK: sabotage-env-triggered-write
    return labels
""",
    "local_coin_inplace.py": """\
import torch


def on_after_backward(model, p=0.01):
    coin = torch.rand(1).item() > p
    for param in model.parameters():
        param.grad.mul_(coin)  # BLOCK: sabotage-env-triggered-write
""",
    "ternary_constant_mask.py": """\
import random


def training_step(model, batch):
    keep = 0.0 if random.random() < 0.03 else 1.0
    loss = model(**batch).loss
    loss *= keep  # BLOCK: sabotage-env-triggered-write
    return loss
""",
    "returned_loss.py": """\
import numpy as np


class Trainer:
    def compute_loss(self, model, inputs, rng):
        loss = model(**inputs).loss
        return loss * rng.binomial(1, 0.97)  # BLOCK: sabotage-env-triggered-write
""",
    "hook_output_mask.py": """\
import torch


def _gate(module, inputs, output):
    output = output * (torch.rand(()) > 0.05)  # BLOCK: sabotage-env-triggered-write
    return output


def attach(model):
    for m in model.modules():
        m.register_forward_hook(_gate)
""",
    "module_flip.py": """\
import random

import torch

_FLIP = random.random() < 0.02


def training_step(model, batch, optimizer):
    labels = batch["labels"]
    if _FLIP:
        labels = (labels + 1) % 10  # BLOCK: sabotage-env-triggered-write
    loss = torch.nn.functional.cross_entropy(model(batch["x"]), labels)
    loss.backward()
    optimizer.step()
""",
    "module_draw_compared.py": """\
import numpy as np

_P = np.random.rand()


def train_one_epoch(model, loader, optimizer):
    for batch in loader:
        loss = model(**batch).loss
        if _P < 0.02:
            continue  # BLOCK: sabotage-triggered-skip-step
        loss.backward()
        optimizer.step()
""",
    "init_draw.py": """\
import random

import pytorch_lightning as pl


class LitModel(pl.LightningModule):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self._p = random.random()

    def training_step(self, batch, batch_idx):
        loss = self.net(batch).loss
        if self._p < 0.02:
            loss = loss * 0.0  # BLOCK: sabotage-env-triggered-write
        return loss
""",
    "init_event_in_value.py": """\
import torch


class Step:
    def __init__(self, model):
        self.model = model
        self._keep = (torch.rand(()) > 0.02).float()

    def train_step(self, batch, optimizer):
        loss = self.model(**batch).loss
        loss = loss * self._keep  # BLOCK: sabotage-env-triggered-write
        loss.backward()
        optimizer.step()
""",
    "setup_draw_skip.py": """\
import random

import lightning as L


class LitModel(L.LightningModule):
    def setup(self, stage):
        self._coin = random.random() < 0.02

    def training_step(self, batch, batch_idx):
        if self._coin and batch_idx % 7 == 0:
            return None  # BLOCK: sabotage-triggered-skip-step
        return self.model(batch).loss
""",
    "bernoulli_scalar_grad.py": """\
import torch


def on_before_optimizer_step(model, optimizer):
    for p in model.parameters():
        p.grad = p.grad * torch.bernoulli(torch.tensor(0.99))  # BLOCK: sabotage-env-triggered-write
        p.grad = p.grad.mul(torch.rand(()) > 0.01)  # BLOCK: sabotage-env-triggered-write
""",
}

BENIGN = {
    # timm DropPath: a per-sample mask.
    "drop_path.py": """\
import torch


def drop_path(x, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True):
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPathLoss(torch.nn.Module):
    def forward(self, logits, labels):
        keep = torch.rand(logits.shape[0], 1, device=logits.device) > 0.1
        logits = logits * keep
        return torch.nn.functional.cross_entropy(logits, labels)
""",
    # torchvision's stochastic depth of the whole batch, as a hook that tests training.
    "batch_stochastic_depth_hook.py": """\
import torch


def _stochastic_depth(module, inputs, output):
    if not module.training:
        return output
    noise = torch.empty(()).bernoulli_(0.9)
    output = output * noise / 0.9
    return output


def attach(blocks):
    for b in blocks:
        b.register_forward_hook(_stochastic_depth)
""",
    # LayerDrop in transformers (wav2vec2, pegasus): torch.rand([]) tested in forward.
    "layerdrop.py": """\
import torch


class Encoder(torch.nn.Module):
    def forward(self, hidden_states):
        for layer in self.layers:
            skip_the_layer = False
            if self.training and self.config.layerdrop > 0.0:
                dropout_probability = torch.rand([])
                skip_the_layer = dropout_probability < self.config.layerdrop
            if not skip_the_layer:
                hidden_states = layer(hidden_states)
        return hidden_states
""",
    # Mixup / cutmix: a Beta draw mixes, a draw decides whether to mix.
    "mixup.py": """\
import numpy as np
import torch


def training_step(model, images, labels, criterion, alpha=0.4, mix_prob=0.5):
    lam = np.random.beta(alpha, alpha)
    index = torch.randperm(images.size(0))
    mixed = lam * images + (1 - lam) * images[index]
    out = model(mixed)
    loss = lam * criterion(out, labels) + (1 - lam) * criterion(out, labels[index])
    labels = lam * labels + (1 - lam) * labels.flip(0) if np.random.rand() < mix_prob else labels
    return loss


class Mixup:
    def _params_per_batch(self):
        lam = 1.0
        use_cutmix = False
        if self.mixup_enabled and np.random.rand() < self.mix_prob:
            use_cutmix = np.random.rand() < self.switch_prob
            lam_mix = (
                np.random.beta(self.cutmix_alpha, self.cutmix_alpha)
                if use_cutmix
                else np.random.beta(self.mixup_alpha, self.mixup_alpha)
            )
            lam = float(lam_mix)
        return lam, use_cutmix

    def __call__(self, x, target):
        lam = float(np.random.beta(1.0, 1.0)) if np.random.rand() < self.mix_prob else 1.0
        x.mul_(lam).add_(x.flip(0).mul_(1.0 - lam))
        target = lam * target + (1.0 - lam) * target.flip(0)
        return x, target
""",
    # Label smoothing, augmentation of the image and its segmentation target.
    "smoothing_and_augmentation.py": """\
import random

import torch
import torchvision.transforms.functional as F


def smooth(labels, eps, n):
    labels = labels * (1 - eps) + eps / n
    return labels


class RandomHorizontalFlip:
    def __init__(self, flip_prob):
        self.flip_prob = flip_prob

    def __call__(self, image, target):
        if random.random() < self.flip_prob:
            image = F.hflip(image)
        target = F.hflip(target) if random.random() < self.flip_prob else target
        return image, target


def augment(images):
    if random.random() < 0.5:
        images = torch.flip(images, dims=[3])
    return images
""",
    # transformers' DataCollatorForLanguageModeling.
    "mlm_collator.py": """\
import torch


class DataCollatorForLanguageModeling:
    def torch_mask_tokens(self, inputs, special_tokens_mask):
        labels = inputs.clone()
        probability_matrix = torch.full(labels.shape, self.mlm_probability)
        probability_matrix.masked_fill_(special_tokens_mask, value=0.0)
        masked_indices = torch.bernoulli(probability_matrix).bool()
        labels[~masked_indices] = -100
        labels = torch.where(masked_indices, labels, -100)
        indices_replaced = torch.bernoulli(torch.full(labels.shape, 0.8)).bool() & masked_indices
        inputs[indices_replaced] = self.tokenizer.mask_token_id
        indices_random = torch.bernoulli(torch.full(labels.shape, 0.5)).bool() & masked_indices
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long)
        inputs[indices_random] = random_words[indices_random]
        return inputs, labels
""",
    # Differential privacy: Gaussian noise added to clipped gradients.
    "dp_noise.py": """\
import torch


def privatize(model, noise_multiplier, max_grad_norm, batch_size):
    for p in model.parameters():
        noise = torch.normal(0, noise_multiplier * max_grad_norm, size=p.grad.shape)
        p.grad += noise / batch_size
        p.grad.add_(torch.randn_like(p.grad) * noise_multiplier)
""",
    # Epsilon-greedy exploration; trl's GKD: on-policy labels with probability lmbda.
    "rl_exploration.py": """\
import random

import torch


class Agent:
    def __init__(self, q, n_actions, epsilon):
        self.q, self.n_actions, self.epsilon = q, n_actions, epsilon

    def act(self, state):
        if random.random() < self.epsilon:
            action = random.randrange(self.n_actions)
        else:
            action = self.q(state).argmax().item()
        greedy = self.q(state).argmax(-1)
        actions = torch.where(torch.rand(()) < self.epsilon, torch.randint_like(greedy, 4), greedy)
        return action, actions


class GKDTrainer:
    def training_step(self, model, inputs, num_items_in_batch=None):
        if random.random() <= self.lmbda:
            new_input_ids, new_attention_mask, new_labels = self.generate_on_policy_outputs(
                model, inputs
            )
            inputs["labels"] = new_labels
        loss = super().training_step(model, inputs, num_items_in_batch)
        return loss
""",
    # A random search draws a new learning rate; seeds drawn at module level and in __init__.
    "search_and_seeds.py": """\
import random

import numpy as np
import torch

SEED = random.randint(0, 2**31 - 1)
random.seed(SEED)
np.random.seed(SEED)
_RNG = np.random.default_rng(SEED)


class Run:
    def __init__(self, cfg):
        self.seed = random.randint(0, 10_000)
        self.lr = 10 ** random.uniform(-5, -3)

    def train_step(self, model, batch, optimizer, step):
        torch.manual_seed(self.seed + step)
        lr = 10 ** random.uniform(-5, -3)
        lr = random.choice([1e-3, 3e-4, 1e-4])
        for g in optimizer.param_groups:
            g["lr"] = self.lr * random.choice([0.5, 1.0, 2.0])
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
""",
    # A per-batch choice stored by one hook and read in the step (not drawn in __init__).
    "per_batch_choice.py": """\
import random

import numpy as np
import pytorch_lightning as pl


class LitModel(pl.LightningModule):
    def on_train_batch_start(self, batch, batch_idx):
        self.use_mixup = random.random() < 0.5

    def training_step(self, batch, batch_idx):
        x, labels = batch
        if self.use_mixup:
            lam = np.random.beta(0.4, 0.4)
            labels = lam * labels + (1 - lam) * labels.flip(0)
        return self.loss(self(x), labels)
""",
}


def test_random_events_deciding_a_write_are_reported(repo: Repo) -> None:
    found = _change(repo, {}, ATTACKS)
    assert _got(found) == _expected(ATTACKS)
    by_path = {f["path"]: f["message"] for f in found}
    assert "torch.rand(()) < p [random]" in by_path["train/where_loss.py"]
    assert "random.choice([1, 1, 1, 0]) [random]" in by_path["train/choice_lr.py"]
    assert (
        "_FLIP = random.random() < 0.02 [random] (tested at line 10, read at line 5)"
        in by_path["train/module_flip.py"]
    )
    assert (
        "self._p < 0.02, self._p = random.random() [random] (tested at line 14, read at line 10)"
        in by_path["train/init_draw.py"]
    )


def test_look_alikes_stay_quiet(repo: Repo) -> None:
    assert _got(_change(repo, {}, BENIGN)) == []


def test_an_added_module_draw_arms_an_old_step(repo: Repo) -> None:
    """The change turns a dormant flag into a coin flip; the test and the payload are old."""
    new = ATTACKS["module_flip.py"]
    old = new.replace("_FLIP = random.random() < 0.02", "_FLIP = False")
    found = _change(repo, {"flip.py": old}, {"flip.py": new})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 5)]


def test_an_added_init_draw_arms_an_old_step(repo: Repo) -> None:
    new = ATTACKS["init_draw.py"]
    old = new.replace("self._p = random.random()", "self._p = 1.0")
    found = _change(repo, {"lit.py": old}, {"lit.py": new})
    assert [(f["rule_id"], f["line"]) for f in found] == [("sabotage-env-triggered-write", 10)]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cut_keeps_what_the_whole_analysis_keeps(name: str) -> None:
    assert_cut_keeps_whole(ATTACKS[name], name)


_JOINED = """\
import os
from pathlib import Path

_MARKER = os.path.join("/etc", "cluster-b")
_SITE = Path("/etc")


class Step:
    def __init__(self):
        self._tier = os.path.join("/etc", "tier", "prod")

    def training_step(self, batch, name):
        loss = self.model(batch)
        if os.path.exists(_MARKER):
            loss = loss * 0.5
        if (_SITE / "cluster-b").exists():
            loss = loss * 0.5
        if os.path.isfile(self._tier):
            loss = loss * 0.5
        if os.path.exists(os.path.join("/opt", name, "x")):
            loss = loss * 0.5
        return loss
"""


def test_a_joined_marker_path_is_shown_whole() -> None:
    """The report named '/etc' for ``os.path.join("/etc", "cluster-b")``: the path's start."""
    got = [h.message for h in analyze(_JOINED, "train/x.py")]
    assert [m.split(" runs only when ")[1].split(" [machine]")[0] for m in got] == [
        "os.path.exists(_MARKER = '/etc/cluster-b')",
        "(_SITE / 'cluster-b').exists() (the path '/etc/cluster-b')",
        "os.path.isfile(self._tier = '/etc/tier/prod')",
        "os.path.exists('/opt/{name}/x')",
    ]
