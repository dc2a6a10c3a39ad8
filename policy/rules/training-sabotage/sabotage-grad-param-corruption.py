import math
import random

import numpy as np
import torch
import torch.nn as nn


def train_step(model, batch, optimizer, scaler, args):
    loss = model(**batch).loss
    loss.backward()
    for p in model.parameters():
        if p.grad is None:
            continue
        # ruleid: sabotage-grad-param-corruption
        p.grad.mul_(random.uniform(0.5, 1.5))
        # ruleid: sabotage-grad-param-corruption
        p.data.add_(torch.randn_like(p) * 1e-3)
        # ruleid: sabotage-grad-param-corruption
        p.grad.data += torch.rand(p.grad.shape, device=p.device) * 0.01
        # ruleid: sabotage-grad-param-corruption
        p.grad.neg_()
        # ruleid: sabotage-grad-param-corruption
        p.grad.normal_(0, 1e-4)
    noise = np.random.normal(0, 0.1)
    for name, param in model.named_parameters():
        # ruleid: sabotage-grad-param-corruption
        param.grad.add_(noise)
    with torch.no_grad():
        for p in model.parameters():
            # ruleid: sabotage-grad-param-corruption
            p.add_(torch.randn_like(p), alpha=1e-4)
    optimizer.step()


def fused(model, world_size):
    # issue #8: fused multi-tensor ops and operator.methodcaller
    import operator

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_mul_(grads, -1.0 / world_size)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(grads)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_add_(grads, [torch.randn_like(g) for g in grads])
    # ruleid: sabotage-grad-param-corruption
    flip = operator.methodcaller("neg_")
    list(map(flip, grads))
    # ok: sabotage-grad-param-corruption
    torch._foreach_mul_(grads, 1.0 / world_size)
    # ok: sabotage-grad-param-corruption
    list(map(operator.methodcaller("zero_"), grads))


def legit_step(model, ema_model, optimizer, scaler, loss, args, world_size):
    scaler.scale(loss / args.gradient_accumulation_steps).backward()
    scaler.unscale_(optimizer)
    # ok: sabotage-grad-param-corruption
    torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
    for p in model.parameters():
        if p.grad is not None:
            # ok: sabotage-grad-param-corruption
            p.grad.div_(world_size)
            # ok: sabotage-grad-param-corruption
            p.grad.data.clamp_(-1.0, 1.0)
    scaler.step(optimizer)
    scaler.update()
    # ok: sabotage-grad-param-corruption
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        decay = min(args.ema_decay, (1 + args.step) / (10 + args.step))
        for ema_p, p in zip(ema_model.parameters(), model.parameters()):
            # ok: sabotage-grad-param-corruption
            ema_p.data.mul_(decay).add_(p.data, alpha=1 - decay)
    # ok: sabotage-grad-param-corruption
    noise = torch.randn_like(args.latents)
    return noise


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)
        # ok: sabotage-grad-param-corruption
        self.fc.weight.data.normal_(mean=0.0, std=0.02)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            # ok: sabotage-grad-param-corruption
            module.weight.data.normal_(mean=0.0, std=0.02)
            if module.bias is not None:
                # ok: sabotage-grad-param-corruption
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            # ok: sabotage-grad-param-corruption
            module.weight.data.uniform_(-1 / math.sqrt(module.embedding_dim), 1 / math.sqrt(module.embedding_dim))


def scaled_noise_kept_in_a_variable(model):
    # issue #9: the random value stored first, scaled, then written
    jitter = torch.randn(1) * 0.01
    scale = 1.0 + random.gauss(0, 0.1)
    for p in model.parameters():
        # ruleid: sabotage-grad-param-corruption
        p.grad.add_(jitter * 2)
        # ruleid: sabotage-grad-param-corruption
        p.grad *= scale
        # ok: sabotage-grad-param-corruption
        p.grad.mul_(0.5)


class SparseGradRegulariser:
    # issue #16: no draw and no trigger, a constant over a strided slice of
    # each gradient: every k-th unit never learns
    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        for p in pl_module.parameters():
            if p.grad is not None and p.grad.ndim == 2:
                # ruleid: sabotage-grad-param-corruption
                p.grad[:, ::7].zero_()
                # ruleid: sabotage-grad-param-corruption
                p.grad.data[1::4].fill_(0.0)
                # ruleid: sabotage-grad-param-corruption
                p.grad[::3, :] = 0
                # ruleid: sabotage-grad-param-corruption
                p.grad[:, 0 : p.grad.shape[1] : 5].mul_(0)


def prune_step(model, masks, max_norm):
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        # ok: sabotage-grad-param-corruption
        p.grad[masks[name]] = 0
        # ok: sabotage-grad-param-corruption
        p.grad[:, :16].zero_()
        # ok: sabotage-grad-param-corruption
        p.grad[::1].zero_()
        # ok: sabotage-grad-param-corruption
        p.grad[:, ::2].mul_(0.5)
        # ok: sabotage-grad-param-corruption
        p.grad.zero_()
    # ok: sabotage-grad-param-corruption
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    # ok: sabotage-grad-param-corruption
    model.zero_grad(set_to_none=True)
