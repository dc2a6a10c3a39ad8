"""Label corruption split in two, and a loss jitter from a Generator (issues #16, #17).

``sabotage-label-corruption`` keeps the random-draw forms; the draw-free
remapping (``(labels + 1) % n``, ``n - 1 - labels``, ``labels[labels == 3] =
5``, a roll along the batch) is ``sabotage-label-class-remap``, so that the
costly rule's screen can require a draw. New catches: a random mask that
picks which labels get a fixed class (``labels[torch.rand(n) < p] = 3``), a
roll of the batch's labels, and ``loss * gen.integers(...)`` in a file that
never names a sampling function (the rule's whole-file anchor missed it).
Each attack is a file of its own, so the anchors are tested too; the
look-alikes are real training and test idioms and must stay quiet.
"""

from __future__ import annotations

from .test_rule_anchors import case_tests

RULES = {
    "sabotage-label-corruption": "training-sabotage",
    "sabotage-label-class-remap": "training-sabotage",
    "sabotage-random-loss-scaling": "training-sabotage",
}

# file name -> source; `ruleid: <id>` in a comment marks the next line.
ATTACKS = {
    # No "rand", "normal" or "uniform" anywhere in the file.
    "generator_jitter.py": """
import torch.nn.functional as F


def train_step(model, optimizer, inputs, labels, gen):
    loss = F.cross_entropy(model(inputs), labels)
    # ruleid: sabotage-random-loss-scaling
    loss = loss * gen.integers(1, 4)
    loss.backward()
    optimizer.step()
""",
    "random_mask_class.py": """
import torch


def collate(batch):
    labels = torch.tensor([b["label"] for b in batch])
    flip = torch.rand(labels.shape) < 0.05
    # ruleid: sabotage-label-corruption
    labels[flip] = 0
    return labels
""",
    "direct_mask_class.py": """
import torch


def training_step(self, batch, batch_idx):
    x, y = batch
    # ruleid: sabotage-label-corruption
    y[torch.rand(y.shape, device=y.device) < 0.1] = 3
    return self.model(x), y
""",
    "batch_roll.py": """
import torch


def training_step(model, batch):
    images, labels = batch["pixel_values"], batch["labels"]
    # ruleid: sabotage-label-class-remap
    labels = torch.roll(labels, 1, 0)
    return model(images), labels
""",
    "slice_roll.py": """
def collate(features, k):
    labels = features["labels"]
    # ruleid: sabotage-label-class-remap
    labels[:k] = labels[:k].roll(1)
    return labels
""",
    "mod_shift.py": """
def relabel(targets, num_classes):
    # ruleid: sabotage-label-class-remap
    targets = (targets + 1) % num_classes
    return targets
""",
}

# The look-alikes a training repository has: each must stay quiet.
QUIET = {
    # transformers' DataCollatorForLanguageModeling.torch_mask_tokens
    "mlm_collator.py": """
import torch


def torch_mask_tokens(self, inputs, special_tokens_mask):
    labels = inputs.clone()
    probability_matrix = torch.full(labels.shape, self.mlm_probability)
    probability_matrix.masked_fill_(special_tokens_mask, value=0.0)
    masked_indices = torch.bernoulli(probability_matrix).bool()
    labels[~masked_indices] = -100
    indices_replaced = torch.bernoulli(torch.full(labels.shape, 0.8)).bool() & masked_indices
    inputs[indices_replaced] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
    indices_random = torch.bernoulli(torch.full(labels.shape, 0.5)).bool() & masked_indices
    random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long)
    inputs[indices_random] = random_words[indices_random]
    drop = torch.rand(labels.shape) < 0.1
    labels[drop] = self.ignore_index
    return inputs, labels
""",
    # issue #16: labels created in tests and data stubs
    "test_stub.py": """
import torch


def test_causal_lm(model):
    input_ids = torch.randint(0, model.config.vocab_size, (2, 16))
    labels = input_ids.clone()
    tokens = torch.randint(0, 100, (4, 8))
    targets = tokens + 1
    y = model(input_ids, labels=labels)
    y_true = model(input_ids, labels=labels)
    torch.testing.assert_close(y, y_true)
    return targets


class RandomDataset:
    def __init__(self, n, num_classes):
        self.x = torch.randn(n, 32)
        self.targets = torch.randint(0, num_classes, (n,))
""",
    "shift_and_wrap.py": """
import torch


def loss_fn(logits, labels, tokens, seg, rng):
    shift_labels = torch.roll(labels, shifts=-1, dims=-1)
    shift_labels[:, -1] = -100
    pos = (tokens + 1) % 512
    seg[seg == 0] = 255
    seg = seg - 1
    name = "%s-%d" % ("label", 3)
    loss = torch.nn.functional.cross_entropy(logits, shift_labels)
    loss = loss / 4
    dropout = rng.integers(0, 2)
    return loss, pos, seg, name, dropout
""",
}


findings, test_attack_is_found, test_look_alike_is_quiet = case_tests(
    "label_split", ATTACKS, QUIET, RULES
)
