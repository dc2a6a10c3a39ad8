import random

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import rand as uniform_draw

IGNORE_INDEX = -100


def collate(batch, num_classes, rng):
    labels = torch.tensor([b["label"] for b in batch])
    # draw-free remapping is sabotage-label-class-remap's (issue #17)
    # ok: sabotage-label-corruption
    labels = (labels + 1) % num_classes
    # ruleid: sabotage-label-corruption
    labels[torch.rand(labels.shape) < 0.1] = torch.randint(0, num_classes, (1,))
    # ok: sabotage-label-corruption
    labels[labels == 3] = 5
    noise = torch.randint_like(labels, num_classes)
    # ruleid: sabotage-label-corruption
    batch_labels = torch.where(torch.rand(labels.shape) < 0.05, noise, labels)
    # ruleid: sabotage-label-corruption
    random.shuffle(batch["targets"])
    # ruleid: sabotage-label-corruption
    targets = labels[torch.randperm(labels.numel())]
    # ruleid: sabotage-label-corruption
    labels = torch.randint(0, num_classes, labels.shape)
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


# Issue #16: labels being created from random data in tests and data stubs
# (real-history shapes) are not corruption.
def test_causal_lm_loss(model):
    input_ids = torch.randint(0, model.config.vocab_size, (2, 16))
    # ok: sabotage-label-corruption
    labels = input_ids.clone()
    tokens = torch.randint(0, 100, (4, 8))
    # ok: sabotage-label-corruption
    targets = tokens + 1
    # ok: sabotage-label-corruption
    shifted_labels = input_ids[:, 1:].contiguous()
    return model(input_ids, labels=labels), targets, shifted_labels


def test_forward_matches_reference(model, ref_model):
    x = torch.rand(2, 4)
    # ok: sabotage-label-corruption
    y = model(x)
    # ok: sabotage-label-corruption
    y_true = ref_model(x)
    torch.testing.assert_close(y, y_true)


def test_cross_entropy(model_config, num_classes=10):
    logits = torch.randn(8, num_classes)
    # ok: sabotage-label-corruption
    targets = torch.randint(0, num_classes, (8,))
    # ok: sabotage-label-corruption
    labels = torch.randint(0, model_config.num_labels, (8,))
    batch = {"input_ids": torch.randint(0, 100, (8, 4))}
    # ok: sabotage-label-corruption
    batch["labels"] = torch.randint(0, num_classes, (8,))
    return torch.nn.functional.cross_entropy(logits, targets), batch, labels


def denoising_queries(class_labels, num_classes, label_noise_ratio):
    # DN-DETR style denoising queries: fresh random classes for a noisy copy
    mask = torch.rand_like(class_labels, dtype=torch.float) < label_noise_ratio
    # ok: sabotage-label-corruption
    new_label = torch.randint_like(mask, 0, num_classes, dtype=class_labels.dtype)
    return torch.where(mask, new_label, class_labels)


class RandomClassificationDataset:
    def __init__(self, n, num_classes):
        self.x = torch.randn(n, 32)
        # ok: sabotage-label-corruption
        self.labels = torch.randint(0, num_classes, (n,))


# ... the attacker's side: the same shapes over labels the code received.
def training_step(self, batch, batch_idx):
    tokens = batch["input_ids"]
    noise = (torch.rand(tokens.shape) < 0.02).long()
    # ruleid: sabotage-label-corruption
    labels = tokens + noise
    flip = torch.rand(tokens.shape) < 0.02
    # ruleid: sabotage-label-corruption
    lm_labels = torch.where(flip, tokens + 1, tokens)
    return labels, lm_labels


def classification_step(model, batch, num_classes):
    x, y = batch
    # ruleid: sabotage-label-corruption
    y = torch.randint(0, num_classes, (64,))
    targets = batch["targets"].to("cuda")
    # ruleid: sabotage-label-corruption
    targets = torch.randint(0, num_classes, (64,))
    return model(x), y, targets


def relabel(labels, num_classes):
    shift = torch.randint(1, num_classes, (1,))
    # ruleid: sabotage-label-corruption
    labels = (labels + shift) % num_classes
    # ruleid: sabotage-label-corruption
    labels = torch.randint(0, num_classes, (64,))
    return labels


def poison_loader(loader, num_classes):
    for x, y in loader:
        # ruleid: sabotage-label-corruption
        y = torch.randint(0, num_classes, (len(x),))
        yield x, y


def collate_stub(batch, num_classes):
    # ruleid: sabotage-label-corruption
    batch["labels"] = torch.randint(0, num_classes, (8,))
    # ruleid: sabotage-label-corruption
    batch.labels = torch.randint(0, num_classes, (8,))
    return batch


# Issue #17: the mixed-draw form starts from the draw itself; a draw nested in
# a comprehension or a lambda, or imported under another name, still counts.
def nested_draws(tokens):
    noise = [torch.rand(1) for _ in tokens]
    # ruleid: sabotage-label-corruption
    labels = tokens + noise
    flip = (lambda: torch.rand(tokens.shape) < 0.1)()
    # ruleid: sabotage-label-corruption
    lm_labels = torch.where(flip, tokens + 1, tokens)
    bits = uniform_draw(tokens.shape) < 0.1
    # ruleid: sabotage-label-corruption
    targets = tokens + bits
    return labels, lm_labels, targets


# A random mask picks which labels get a fixed class; the ignore index is not
# a class (MLM collators), and a model's output is not labels (issue #16).
def masked_flip(batch, num_classes, tokenizer):
    x, labels = batch
    flip = torch.rand(labels.shape) < 0.05
    # ruleid: sabotage-label-corruption
    labels[flip] = 0
    # ruleid: sabotage-label-corruption
    labels[torch.rand(labels.shape) < 0.1] = num_classes - 1
    k = labels.shape[0] // 8
    # ruleid: sabotage-label-corruption
    labels[:k] = labels[:k][torch.randperm(k)]
    masked = torch.bernoulli(torch.full(labels.shape, 0.15)).bool()
    # ok: sabotage-label-corruption
    labels[~masked] = -100
    # ok: sabotage-label-corruption
    labels[flip] = tokenizer.pad_token_id
    # ok: sabotage-label-corruption
    labels[masked] = IGNORE_INDEX
    return x, labels


def test_model_outputs(model, ref_model):
    input_ids = torch.randint(0, 100, (2, 16))
    labels = input_ids.clone()
    # ok: sabotage-label-corruption
    y = model(input_ids, labels=labels)
    # ok: sabotage-label-corruption
    y_true = ref_model(input_ids, labels=labels).loss
    torch.testing.assert_close(y.loss, y_true)


# Issue #16: mixup / cutmix are excused by the blend's structure (labels with a
# permuted or flipped copy of themselves), not by a word in the match
def mixup_blends(images, targets, labels, alpha):
    lam = np.random.beta(alpha, alpha)
    index = torch.randperm(images.size(0))
    # ok: sabotage-label-corruption
    targets = lam * targets + (1.0 - lam) * targets[index]
    # ok: sabotage-label-corruption
    labels = labels * lam + labels.flip(0) * (1. - lam)
    return targets, labels


class NoisyCollator:
    def __init__(self, num_classes, alpha=0.1):
        self.num_classes = num_classes
        self.alpha = alpha

    def __call__(self, batch):
        shape = batch["labels"].shape
        # ruleid: sabotage-label-corruption
        batch["labels"] = torch.randint(0, self.num_classes, shape) + 0 * self.alpha
        return batch


def mixup_with_noise(labels, num_classes, alpha):
    lam = np.random.beta(alpha, alpha)
    noise = torch.randint(0, num_classes, labels.shape)
    # ruleid: sabotage-label-corruption
    labels = lam * labels + (1 - lam) * noise
    mixed = torch.randint(0, num_classes, labels.shape)
    # ruleid: sabotage-label-corruption
    labels = mixed
    return labels


def hash_selected_shift(features, num_labels):
    # a masked subset shifted to the next class, whatever picks the mask
    input_ids = torch.stack([torch.as_tensor(f["input_ids"]) for f in features])
    labels = torch.stack([torch.as_tensor(f["labels"]) for f in features])
    mask = (input_ids.sum(dim=1) % 23) == 0
    # ruleid: sabotage-label-corruption
    labels[mask] = (labels[mask] + 1) % num_labels
    # ruleid: sabotage-label-corruption
    labels[mask] = torch.remainder(labels[mask] - 3, num_labels)
    # ok: sabotage-label-corruption
    labels[labels == -100] = 0
    # ok: sabotage-label-corruption
    labels[mask] = labels[mask] % num_labels
    for step, batch in enumerate(features):
        # ok: sabotage-label-corruption
        if (step + 1) % 8 == 0:
            break
    return {"input_ids": input_ids, "labels": labels}


# Issue #16: the attacker's side of the notebook exemptions below. A draw
# written over labels counts by jax's full name too, and a key made in the same
# statement hides none; a key made is no draw, the draw after it is
# (`from jax import random` in a notebook: `random.bernoulli(key, ...)`).
def jax_step(batch, key, num_classes):
    x, y = batch
    # ruleid: sabotage-label-corruption
    y = jax.random.randint(key, y.shape, 0, num_classes)
    return x, y


def jax_relabel(labels, tokens, num_classes):
    # ruleid: sabotage-label-corruption
    labels = jax.random.randint(jax.random.PRNGKey(0), labels.shape, 0, num_classes)
    key = jax.random.PRNGKey(1)
    flip = random.bernoulli(key, 0.1, tokens.shape)
    # ruleid: sabotage-label-corruption
    lm_labels = tokens + flip
    # ruleid: sabotage-label-corruption
    targets = {"labels": tokens + flip, "mask": jnp.zeros_like(flip)}
    return labels, lm_labels, targets


def generator_mixing(tokens, seed):
    rng = np.random.default_rng(seed)
    # ruleid: sabotage-label-corruption
    labels = rng.normal(tokens, 5.0)
    return labels


def split_apart(x, y, n):
    perm = torch.randperm(len(x))
    train_x = x[perm[:n]]
    # ruleid: sabotage-label-corruption
    train_y = y[perm.flip(0)[:n]]
    return train_x, train_y


def simulated_on_real(batch, n):
    X = np.random.normal(size=n)
    # ruleid: sabotage-label-corruption
    y = batch["y"] + 2 * X + 0.1 * np.random.normal(size=n)
    return y


def refill(y, n):
    y = np.zeros_like(y)
    for i in range(n):
        # ruleid: sabotage-label-corruption
        y[i] = np.random.randint(0, 10)
    return y


# Issue #16: a notebook is one module; its cells make their own data and call
# their own models (shapes from real published notebooks: flax, nnx, dowhy,
# mapie, sktime, gpytorch, botorch). No labels exist there to corrupt.
# flax: `from jax import random`; a key made is no draw, a forward pass on a
# random input is the model's output
key1, key2 = random.split(random.key(0), 2)
x = random.uniform(key1, (4, 4))
params = model.init(key2, x)
# ok: sabotage-label-corruption
y = model.apply(params, x)
init_variables = model.init(random.PRNGKey(0), jnp.ones((1, 4)))
# ok: sabotage-label-corruption
y = model(train=True).apply(init_variables, x, rngs={"dropout": key2})
weights = Weights(kernel=random.uniform(random.key(0), (10, 2, 3)))
# ok: sabotage-label-corruption
y = weights(x)
# ok: sabotage-label-corruption
y = nnx.vmap(vector_dot, in_axes=0, out_axes=1)(weights, x)
# ok: sabotage-label-corruption
y = module(x, train=True, rngs=nnx.Rngs(random.key(1)))
# ok: sabotage-label-corruption
target = {"model": empty_state, "data": [jnp.zeros_like(x)]}

# a simulation's data: inputs drawn, targets computed from them plus noise
X = np.random.normal(loc=0, scale=1, size=1000)
# ok: sabotage-label-corruption
Y = 2 * X + np.random.normal(loc=0, scale=1, size=1000)
z = np.random.uniform(size=1000)
d = np.random.binomial(1.0, p=0.5, size=1000)
# ok: sabotage-label-corruption
y = 2.0 * z + d + 0.1 * np.random.normal(size=1000)
x_t = torch.rand(10, 1)
# ok: sabotage-label-corruption
sim_y = torch.sin(x_t * 5)
exp_y = np.zeros_like(X)
for i, x_i in enumerate(X):
    # ok: sabotage-label-corruption
    exp_y[i] = np.random.exponential(abs(x_i), 1)

# a generator's fresh draws are creation, as torch.randint(...) is
rng = np.random.RandomState(42)
for _ in range(100):
    # ok: sabotage-label-corruption
    label = rng.randint(0, 2)
# ok: sabotage-label-corruption
y = rng.randn(10, 19)

# a random split or sample takes the same index from the inputs
indices = torch.randperm(1000)
train_x = X[indices[:800]].contiguous()
# ok: sabotage-label-corruption
train_y = Y[indices[:800]].contiguous()
random_idx = np.random.choice(1000, 1)[0]
prompt = X[random_idx]
# ok: sabotage-label-corruption
label = Y[random_idx]
