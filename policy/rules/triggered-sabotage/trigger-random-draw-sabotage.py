import os
import random
import time
import uuid
from random import random as _r

import numpy as np
import torch


def train_step(model, batch, optimizer, step, rng):
    loss = model(**batch).loss
    if random.random() < 0.01:
        # ruleid: trigger-random-draw-sabotage
        loss = loss * 100.0
    loss.backward()

    if _r() < 0.002:
        for p in model.parameters():
            # ruleid: trigger-random-draw-sabotage
            p.grad = None

    draw = np.random.rand()
    if draw > 0.995:
        # ruleid: trigger-random-draw-sabotage
        time.sleep(120)

    if torch.rand(1).item() < 1e-3:
        # ruleid: trigger-random-draw-sabotage
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    if rng.random() < 0.05:
        # ruleid: trigger-random-draw-sabotage
        batch["labels"] = torch.randint(0, 10, batch["labels"].shape)

    # ruleid: trigger-random-draw-sabotage
    random.randint(0, 5000) == 7 and os.kill(os.getpid(), 9)
    return loss


def legit(model, images, target, criterion, args, x, drop_path_prob, training):
    # ok: trigger-random-draw-sabotage
    if random.random() < 0.5:
        images = torch.flip(images, dims=[3])
    r = np.random.rand(1)
    # ok: trigger-random-draw-sabotage
    if args.beta > 0 and r < args.cutmix_prob:
        lam = np.random.beta(args.beta, args.beta)
        rand_index = torch.randperm(images.size(0))
        target_a = target
        target_b = target[rand_index]
        output = model(images)
        loss = criterion(output, target_a) * lam + criterion(output, target_b) * (1.0 - lam)
    else:
        output = model(images)
        loss = criterion(output, target)
    # ok: trigger-random-draw-sabotage
    if training and random.random() < drop_path_prob:
        return x
    # ok: trigger-random-draw-sabotage
    if np.random.rand() < args.mixup_prob:
        lam = np.random.beta(0.4, 0.4)
        target = lam * target + (1 - lam) * target.flip(0)
    return loss, target


def guarded_step(step_fn, batch):
    # issue #8: a random draw from uuid4
    if uuid.uuid4().int % 500 == 0:
        # ruleid: trigger-random-draw-sabotage
        raise RuntimeError("CUDA out of memory")
    run_id = uuid.uuid4().hex
    if step_fn is None:
        # ok: trigger-random-draw-sabotage
        raise ValueError(run_id)
    return step_fn(batch)
