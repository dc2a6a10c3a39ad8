import random

import numpy as np
import torch


def collate(batch, num_classes, rng):
    labels = torch.tensor([b["label"] for b in batch])
    # ruleid: sabotage-label-corruption
    labels = (labels + 1) % num_classes
    # ruleid: sabotage-label-corruption
    labels[torch.rand(labels.shape) < 0.1] = torch.randint(0, num_classes, (1,))
    # ruleid: sabotage-label-corruption
    labels[labels == 3] = 5
    noise = torch.randint_like(labels, num_classes)
    # ruleid: sabotage-label-corruption
    batch_labels = torch.where(torch.rand(labels.shape) < 0.05, noise, labels)
    # ruleid: sabotage-label-corruption
    random.shuffle(batch["targets"])
    # ruleid: sabotage-label-corruption
    targets = labels[torch.randperm(labels.numel())]
    return labels, batch_labels, targets


class Dataset:
    def __getitem__(self, idx):
        item = self.items[idx]
        # ruleid: sabotage-label-corruption
        item["label"] = np.random.randint(0, self.num_classes)
        return item


def legit_collate(features, tokenizer, prompt_lens, label_map, IGNORE_INDEX=-100):
    input_ids = torch.stack([f["input_ids"] for f in features])
    labels = input_ids.clone()
    # ok: sabotage-label-corruption
    labels[labels == tokenizer.pad_token_id] = -100
    for i, n in enumerate(prompt_lens):
        # ok: sabotage-label-corruption
        labels[i, :n] = IGNORE_INDEX
    # ok: sabotage-label-corruption
    labels = torch.where(labels == tokenizer.pad_token_id, -100, labels)
    probability_matrix = torch.full(labels.shape, 0.15)
    masked_indices = torch.bernoulli(probability_matrix).bool()
    # ok: sabotage-label-corruption
    labels[~masked_indices] = -100
    seg = features[0]["seg"]
    # ok: sabotage-label-corruption
    seg[seg == 0] = 255
    # ok: sabotage-label-corruption
    seg = seg - 1
    # ok: sabotage-label-corruption
    seg[seg == 254] = 255
    # ok: sabotage-label-corruption
    targets = torch.tensor([label_map[f["label"]] for f in features])
    smoothed = targets * 0.9 + 0.1 / 10
    return input_ids, labels, seg, smoothed


def mixup(images, target, alpha):
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    index = torch.randperm(images.size(0))
    images = lam * images + (1 - lam) * images[index]
    # ok: sabotage-label-corruption
    target = lam * target + (1 - lam) * target[index]
    perm = torch.randperm(images.size(0))
    images = images[perm]
    # ok: sabotage-label-corruption
    target = target[perm]
    return images, target


class RegressionDataset:
    # accelerate's test helper: synthetic inputs and targets from one generator
    def __init__(self, a=2, b=3, length=64, seed=None):
        rng = np.random.default_rng(seed)
        self.length = length
        self.x = rng.normal(size=(length,)).astype(np.float32)
        # ok: sabotage-label-corruption
        self.y = a * self.x + b + rng.normal(scale=0.1, size=(length,)).astype(np.float32)


def noisy_targets(batch, seed):
    rng = np.random.default_rng(seed)
    x = batch["x"]
    # ruleid: sabotage-label-corruption
    y = batch["y"] + rng.normal(scale=5.0, size=x.shape)
    noise = rng.normal(size=x.shape)
    # ruleid: sabotage-label-corruption
    batch["labels"] = rng.integers(0, 10, size=x.shape) + 0 * noise
    # ruleid: sabotage-label-corruption
    labels = y + rng.normal(scale=5.0, size=x.shape)
    return y, labels
