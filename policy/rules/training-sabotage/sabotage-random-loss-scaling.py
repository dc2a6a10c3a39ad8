import functools
import random
from random import uniform as _u

import numpy as np
import torch


def training_step(model, batch, rng, accelerator):
    outputs = model(**batch)
    loss = outputs.loss
    # ruleid: sabotage-random-loss-scaling
    loss = loss * random.uniform(0.8, 1.25)
    # ruleid: sabotage-random-loss-scaling
    loss *= _u(0.9, 1.1)
    jitter = np.random.lognormal(0.0, 0.3)
    # ruleid: sabotage-random-loss-scaling
    loss = loss * jitter
    # ruleid: sabotage-random-loss-scaling
    loss = loss + torch.rand(()) * 0.05
    # ruleid: sabotage-random-loss-scaling
    loss.backward(torch.rand_like(loss))
    return loss


def compute_loss(model, inputs, rng):
    total_loss = model(**inputs).loss
    # ruleid: sabotage-random-loss-scaling
    return total_loss * rng.uniform(0.5, 2.0)


# issue #8: the random draw bound once with functools.partial
jitter = functools.partial(random.uniform, 0.5, 1.5)
warmup = functools.partial(min, 1.0)


def partial_step(model, batch, step):
    loss = model(**batch).loss
    # ruleid: sabotage-random-loss-scaling
    loss = loss * jitter()
    # ok: sabotage-random-loss-scaling
    loss = loss * warmup(step / 1000)
    return loss


def legit_step(model, batch, scaler, criterion, images, target, args, noise_scheduler, latents, snr_weights):
    loss = model(**batch).loss
    # ok: sabotage-random-loss-scaling
    loss = loss / args.gradient_accumulation_steps
    # ok: sabotage-random-loss-scaling
    scaler.scale(loss).backward()
    lam = np.random.beta(args.alpha, args.alpha)
    index = torch.randperm(images.size(0))
    mixed = lam * images + (1 - lam) * images[index]
    output = model(mixed)
    # ok: sabotage-random-loss-scaling
    loss = lam * criterion(output, target) + (1 - lam) * criterion(output, target[index])
    noise = torch.randn_like(latents)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],))
    pred = model(noise_scheduler.add_noise(latents, noise, timesteps), timesteps)
    # ok: sabotage-random-loss-scaling
    loss = torch.nn.functional.mse_loss(pred, noise, reduction="none").mean(dim=[1, 2, 3])
    # ok: sabotage-random-loss-scaling
    loss = (loss * snr_weights[timesteps]).mean()
    return loss


# issue #16: a NumPy Generator passed in (the file says neither "rand" nor
# "normal" anywhere else)
def generator_step(model, batch, gen):
    loss = model(**batch).loss
    # ruleid: sabotage-random-loss-scaling
    loss = loss * gen.integers(1, 4)
    # ruleid: sabotage-random-loss-scaling
    loss = loss * gen.standard_normal()
    # ok: sabotage-random-loss-scaling
    loss = loss * batch["weights"].sum()
    return loss
