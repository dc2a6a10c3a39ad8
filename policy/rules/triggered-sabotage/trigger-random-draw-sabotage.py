import os
import random
import secrets
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


# Issue #16: draws the rule did not list: module functions beyond the first
# seven, generators from random.Random / SystemRandom / default_rng under any
# name, torch sampling functions and in-place sampling, secrets.
def wider_draws(model, optimizer, loss, batch, seed):
    if random.choices([0, 1], weights=[999, 1])[0]:
        # ruleid: trigger-random-draw-sabotage
        time.sleep(600)
    r = random.Random(seed)
    if r.random() < 0.001:
        # ruleid: trigger-random-draw-sabotage
        raise RuntimeError("NCCL watchdog timeout")
    if random.SystemRandom().randrange(1000) == 0:
        # ruleid: trigger-random-draw-sabotage
        optimizer.state.clear()
    g = np.random.default_rng()
    if g.integers(1000) == 0:
        # ruleid: trigger-random-draw-sabotage
        loss = loss * 1000.0
    if torch.empty(()).uniform_() < 1e-3:
        for p in model.parameters():
            # ruleid: trigger-random-draw-sabotage
            p.grad.mul_(-1.0)
    if torch.multinomial(torch.tensor([0.999, 0.001]), 1).item() == 1:
        # ruleid: trigger-random-draw-sabotage
        batch["labels"] = (batch["labels"] + 1) % 10
    if secrets.randbelow(2000) == 0:
        # ruleid: trigger-random-draw-sabotage
        os._exit(0)
    return loss


def wider_benign(images, target, seed, policies, layer, drop_prob, x):
    # ok: trigger-random-draw-sabotage
    if random.choices(policies, weights=[3, 1])[0] == "flip":
        images = torch.flip(images, dims=[3])
    rng = random.Random(seed)
    # ok: trigger-random-draw-sabotage
    if rng is None:
        raise ValueError("no generator")
    # ok: trigger-random-draw-sabotage
    if rng.random() < 0.5:
        images = images + 0.01 * torch.randn_like(images)
    # ok: trigger-random-draw-sabotage
    if torch.rand(()) < drop_prob:
        return x
    # ok: trigger-random-draw-sabotage
    if torch.empty(()).bernoulli_(0.5):
        images = images.flip(-1)
    return images, target


# Issue #17: the payload is matched only inside the guarded region, so what
# encloses the region (a param_groups loop, a polling loop) and what lies
# between a draw and its test must still count as before.
def regions(opt, model, loss, flag_file):
    for group in opt.param_groups:
        if np.random.rand() < 1e-3:
            # ruleid: trigger-random-draw-sabotage
            group["lr"] = 10.0
        # ok: trigger-random-draw-sabotage
        group["lr"] = 1e-4
    gen = random.SystemRandom()
    for group in opt.param_groups:
        if gen.randrange(500) == 0:
            # ruleid: trigger-random-draw-sabotage
            group["weight_decay"] *= 100
    for group in opt.param_groups:
        d = random.random()
        if d < 0.01:
            # ruleid: trigger-random-draw-sabotage
            group["lr"] += 1.0
    while not os.path.exists(flag_file):
        if random.random() < 0.5:
            # ok: trigger-random-draw-sabotage
            time.sleep(1)
    if random.random() < 0.5:
        pass
    else:
        # ruleid: trigger-random-draw-sabotage
        os._exit(1)
    return loss
