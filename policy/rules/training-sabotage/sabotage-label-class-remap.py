import numpy as np
import torch

ONE = 1


def collate(batch, num_classes):
    labels = torch.tensor([b["label"] for b in batch])
    # ruleid: sabotage-label-class-remap
    labels = (labels + 1) % num_classes
    # ruleid: sabotage-label-class-remap
    labels[labels == 3] = 5
    return labels


def relabel(labels, num_classes, k):
    # ruleid: sabotage-label-class-remap
    labels = num_classes - 1 - labels
    # ruleid: sabotage-label-class-remap
    labels = (num_classes - ONE) - labels
    # ruleid: sabotage-label-class-remap
    labels %= num_classes
    # ruleid: sabotage-label-class-remap
    labels.add_(k).remainder_(num_classes)
    # ruleid: sabotage-label-class-remap
    labels = torch.remainder(labels + k, num_classes)
    # ruleid: sabotage-label-class-remap
    labels = torch.fmod(labels + k, num_classes)
    return labels


def swap_classes(batch, targets):
    # ruleid: sabotage-label-class-remap
    batch["labels"] = torch.where(batch["labels"] == 2, 7, batch["labels"])
    # ruleid: sabotage-label-class-remap
    targets.masked_fill_(targets == 1, 0)
    # ruleid: sabotage-label-class-remap
    targets = targets.masked_fill(targets == 0, 1)
    return batch, targets


def training_step(model, batch):
    images, labels = batch["pixel_values"], batch["labels"]
    # each image trains on its neighbour's label
    # ruleid: sabotage-label-class-remap
    labels = torch.roll(labels, 1, 0)
    # ruleid: sabotage-label-class-remap
    labels = labels.roll(shifts=1, dims=0)
    k = labels.shape[0] // 10
    # a tenth of the batch gets its neighbour's label
    # ruleid: sabotage-label-class-remap
    labels[:k] = torch.roll(labels[:k], 1)
    # ruleid: sabotage-label-class-remap
    labels[:k] = labels[:k].roll(1, 0)
    return model(images), labels


def numpy_step(x, y):
    # ruleid: sabotage-label-class-remap
    y = np.roll(y, 1, axis=0)
    return x, y


def legit_collate(features, tokenizer, IGNORE_INDEX=-100):
    input_ids = torch.stack([f["input_ids"] for f in features])
    labels = input_ids.clone()
    # ok: sabotage-label-class-remap
    labels[labels == tokenizer.pad_token_id] = -100
    # ok: sabotage-label-class-remap
    labels = torch.where(labels == tokenizer.pad_token_id, -100, labels)
    seg = features[0]["seg"]
    # ok: sabotage-label-class-remap
    seg[seg == 0] = 255
    # ok: sabotage-label-class-remap
    seg = seg - 1
    # ok: sabotage-label-class-remap
    seg[seg == 254] = 255
    # ok: sabotage-label-class-remap
    labels = labels - 1
    return input_ids, labels, seg


def causal_shift(logits, labels, tokens):
    # the next-token shift rolls the sequence dimension, not the batch
    # ok: sabotage-label-class-remap
    shift_labels = torch.roll(labels, shifts=-1, dims=-1)
    # ok: sabotage-label-class-remap
    labels = torch.roll(labels, -1, dims=1)
    # ok: sabotage-label-class-remap
    labels = labels.roll(-1, -1)
    # ok: sabotage-label-class-remap
    labels[:, :-1] = labels[:, 1:].clone()
    # ok: sabotage-label-class-remap
    labels[:, :-1] = labels[:, :-1].roll(-1, -1)
    # a position id wrapped around a window is not a label
    # ok: sabotage-label-class-remap
    pos = (tokens + 1) % 512
    return logits, shift_labels, labels, pos


def test_logits_processor(vocab_size):
    # test data built from indices: labels created, not remapped
    # ok: sabotage-label-class-remap
    labels = torch.arange(8) % vocab_size
    # ok: sabotage-label-class-remap
    target = "%s-%d" % ("label", 3)
    return labels, target
