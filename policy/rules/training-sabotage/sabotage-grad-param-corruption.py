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


def _multi_tensor_lamb(params, grads, exp_avgs, exp_avg_sqs, lr, scale, eps, tensor_lr):
    # issue #16 (timm optim/lamb.py): the optimizer negates the update it
    # made itself, then moves the parameters by it
    if tensor_lr:
        updates = torch._foreach_div(exp_avgs, 1.0)
        torch._foreach_div_(updates, exp_avg_sqs)
    else:
        updates = torch._foreach_div(exp_avgs, exp_avg_sqs)
    if tensor_lr:
        # ok: sabotage-grad-param-corruption
        torch._foreach_mul_(updates, -lr * scale)
        torch._foreach_add_(params, updates)


def _multi_tensor_adamw(params, grads, exp_avgs, denom, state_steps, beta1, lr, capturable):
    # issue #16 (timm optim/adamw.py): bias corrections and the step size
    # are fresh lists of the optimizer's own scalars, on either branch
    if capturable:
        bias_correction1 = [torch.pow(beta1, step) for step in state_steps]
        torch._foreach_sub_(bias_correction1, 1)
        # ok: sabotage-grad-param-corruption
        torch._foreach_neg_(bias_correction1)
        step_size = torch._foreach_div(bias_correction1, lr)
        torch._foreach_reciprocal_(step_size)
        # ok: sabotage-grad-param-corruption
        torch._foreach_neg_(step_size)
        torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)
    else:
        bias_correction1 = [1 - beta1**step for step in state_steps]
        step_size = [(lr / bc) * -1 for bc in bias_correction1]
        torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)


def _foreach_aliases(grads):
    # comprehensions that alias the gradient tensors (views, the tensors themselves)
    same = [g for g in grads]
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(same)
    flat = [g.view(-1) for g in grads]
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(flat)
    flat2 = [torch.flatten(g) for g in grads]
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_mul_(flat2, -2.0)
    inner = [g[1:-1] for g in grads]
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(inner)


def _multi_tensor_sgd(params, grads, lr):
    # a helper named like an optimizer's that flips the gradients it is given
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(grads)
    torch._foreach_add_(params, grads, alpha=-lr)
    # a fresh list only after the flip: the flipped one was passed in
    grads = torch._foreach_mul(params, 1.0)


def _foreach_step(params, grads, lr, flag):
    # a "fresh" list made from the gradients, or bound from them on one branch
    updates = torch._foreach_mul(grads, 1.0)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(updates)
    if flag:
        steps = torch._foreach_div(params, lr)
    else:
        steps = list(grads)
    # a list also bound to fresh tensors on another branch: its copy of the
    # gradients' list still counts (session 23)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_mul_(steps, -1.0)
    views = torch.split(grads[0], 4)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_neg_(views)


def _multi_tensor_sign_sgd(model, lr):
    # session 25: a flip of a fresh list, copied back over the gradients
    moments = [p.grad for p in model.parameters() if p.grad is not None]
    update = torch._foreach_div(moments, lr)
    torch._foreach_neg_(update)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(moments, update)


def _fused_grad_rewrite(params, device_grads, state, lr):
    # the same by a negative fresh multiple, a fresh negation, a zip loop
    scaled = torch._foreach_mul(state, -lr)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(device_grads, scaled)
    flipped = torch._foreach_neg(state)
    for g, u in zip(device_grads, flipped):
        # ruleid: sabotage-grad-param-corruption
        g.copy_(u)
    step = torch._foreach_div(state, lr)
    torch._foreach_mul_(step, -1.0)
    for p, u in zip(params, step):
        # ruleid: sabotage-grad-param-corruption
        p.data.copy_(u)


def _zip_write_back(params, exp_avgs, lr):
    # no `.grad`, no in-place foreach op: a fresh negative step written back
    # over the parameters one by one
    step = torch._foreach_mul(exp_avgs, -lr)
    for p, s in zip(params, step):
        # ruleid: sabotage-grad-param-corruption
        p.copy_(s)
    for p, s in zip(params, step):
        # ruleid: sabotage-grad-param-corruption
        p.grad.copy_(s)
        # ruleid: sabotage-grad-param-corruption
        p.grad = s


def _apply_buffers(bufs, lr):
    # whatever the list is called: its own flipped copy written back over it
    update = torch._foreach_div(bufs, lr)
    torch._foreach_neg_(update)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(bufs, update)


def _flip_into_tuple(model, scale):
    slots = tuple(p.grad for p in model.parameters())
    update = torch._foreach_mul(list(model.buffers()), -scale)
    # ruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(slots, update)


def _step_excuse_abused(params, lr):
    # the excuse's shape with a "step" made from the parameters themselves:
    # p - 2p is -p (a constant the rule cannot weigh)
    update = torch._foreach_mul(params, 2.0)
    torch._foreach_neg_(update)
    torch._foreach_add_(update, params)
    # todoruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(params, update)


class FusedRprop(torch.optim.Optimizer):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            # the previous step kept as optimizer state, one per parameter: a
            # negative step stored there is not a write over the gradients
            prev_steps = [self.state[p]["prev_step"] for p in params]
            step = torch._foreach_mul(torch._foreach_sign(grads), group["lr"])
            torch._foreach_neg_(step)
            # ok: sabotage-grad-param-corruption
            torch._foreach_copy_(prev_steps, step)
            torch._foreach_add_(params, step)
            # the insider's version: the same step written over the parameters
            # or the gradients of the group
            members = [p for p in group["params"]]
            # ruleid: sabotage-grad-param-corruption
            torch._foreach_copy_(members, step)
            # ruleid: sabotage-grad-param-corruption
            torch._foreach_copy_(group["params"], step)
            # ruleid: sabotage-grad-param-corruption
            torch._foreach_copy_([p.grad for p in params], step)


def _all_reduce_grads(params, reduced, world_size):
    # DDP-style: the averaged gradients put back, no flip
    averaged = torch._foreach_div(reduced, world_size)
    for p, g in zip(params, averaged):
        # ok: sabotage-grad-param-corruption
        p.grad.copy_(g)


def _flip_on_a_branch(model, lr, flag):
    moments = [p.grad for p in model.parameters()]
    update = torch._foreach_div(moments, lr)
    if flag:
        torch._foreach_neg_(update)
    # a flip on one branch, the copy after it
    # todoruleid: sabotage-grad-param-corruption
    torch._foreach_copy_(moments, update)


def _low_precision_copy(params, params_fp32, low_precision):
    # timm adabelief.py: the fp32 master copy written back, no flip
    dst, src = [params[i] for i in low_precision], [params_fp32[i] for i in low_precision]
    # ok: sabotage-grad-param-corruption
    torch._foreach_copy_(dst, src)
    for d, s in zip(dst, src):
        # ok: sabotage-grad-param-corruption
        d.copy_(s)


def _update_ema(ema_params, model_params, decay):
    # timm model_ema.py: the averaged weights computed apart, then copied
    x_split = torch._foreach_mul(model_params, 1.0 - decay)
    torch._foreach_add_(x_split, ema_params, alpha=decay)
    # ok: sabotage-grad-param-corruption
    torch._foreach_copy_(ema_params, x_split)


def _multi_tensor_sgd_buffered(params, grads, momentum_buffers, lr, maximize):
    # an optimizer that computes each new parameter in a buffer (p - lr * d)
    if maximize:
        grads = torch._foreach_neg(grads)
    torch._foreach_mul_(momentum_buffers, 0.9)
    torch._foreach_add_(momentum_buffers, grads)
    new_params = torch._foreach_mul(momentum_buffers, -lr)
    torch._foreach_add_(new_params, params)
    # ok: sabotage-grad-param-corruption
    torch._foreach_copy_(params, new_params)
    # gradients accumulated over micro-batches: a copy with no flip
    accum = torch._foreach_div(grads, 4)
    # ok: sabotage-grad-param-corruption
    torch._foreach_copy_(grads, accum)


class StridedSGD(torch.optim.Optimizer):
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                # an optimizer's step that corrupts a slice of each gradient
                # ruleid: sabotage-grad-param-corruption
                p.grad[:, ::5].zero_()
                # ruleid: sabotage-grad-param-corruption
                p.grad.mul_(random.uniform(0.9, 1.1))
                p.add_(p.grad, alpha=-group["lr"])


def true_gradient_by_hand(loss_fn, optimizer, steps):
    # issue #16 (botorch's tutorials): the true gradient of a random start
    A = torch.rand(3, 4, requires_grad=True)
    X = torch.rand(3, 4, requires_grad=True)
    for _ in range(steps):
        loss = loss_fn(X, A)
        # ok: sabotage-grad-param-corruption
        A.grad = torch.autograd.grad(loss, A)[0]
        # ok: sabotage-grad-param-corruption
        X.grad, A.grad = torch.autograd.grad(loss, [X, A])
        optimizer.step()
    noise = torch.randn(3, 4)
    # the draw in the loss or in grad_outputs scales the gradient
    # ruleid: sabotage-grad-param-corruption
    A.grad = torch.autograd.grad(loss_fn(X, A) * noise.sum(), A)[0]
    # ruleid: sabotage-grad-param-corruption
    A.grad = torch.autograd.grad(loss_fn(X, A), A, grad_outputs=noise)[0]
    # ruleid: sabotage-grad-param-corruption
    A.grad = torch.autograd.grad(loss_fn(X, A), A)[0] * noise


def smoke_test_data():
    # issue #16 (gpytorch's tutorials): a call on the torch.utils.data module
    # ok: sabotage-grad-param-corruption
    train_set = torch.utils.data.TensorDataset(torch.randn(8, 3, 32, 32), torch.rand(8).round().long())
    return torch.utils.data.DataLoader(train_set, batch_size=4, shuffle=True)


def grad_reversal_unbound(model):
    # issue #16 (session 23): the in-place ops called unbound or named at run time
    for p in model.backbone.parameters():
        # ruleid: sabotage-grad-param-corruption
        torch.Tensor.neg_(p.grad)
        # ruleid: sabotage-grad-param-corruption
        torch.Tensor.mul_(p.grad, -1.0)
        # ruleid: sabotage-grad-param-corruption
        torch.Tensor.normal_(p.grad)
        # ruleid: sabotage-grad-param-corruption
        getattr(p.grad, _OPS["scale"])(-0.5)
        # ruleid: sabotage-grad-param-corruption
        getattr(p.grad, "neg_")()
        # ok: sabotage-grad-param-corruption
        torch.Tensor.mul_(p.grad, 0.5)
        # ok: sabotage-grad-param-corruption
        getattr(p.grad, "div_")(8)
        # ok: sabotage-grad-param-corruption
        torch.Tensor.neg_(p.data.clone())


def flip_through_views(model):
    for p in model.parameters():
        g = p.grad.data.view(-1)
        # ruleid: sabotage-grad-param-corruption
        g[::2].neg_()
        flat = p.grad.flatten()
        # ruleid: sabotage-grad-param-corruption
        flat.mul_(-1)
        grad = p.grad
        # ruleid: sabotage-grad-param-corruption
        grad *= -1
        # a copy of the gradient, negated for an update computed apart (an
        # optimizer's `maximize`): the gradient itself is untouched
        step = p.grad.clone()
        # ok: sabotage-grad-param-corruption
        step.neg_()
        d = p.grad.detach()
        # ok: sabotage-grad-param-corruption
        d = -d
        # ok: sabotage-grad-param-corruption
        d.div_(4)


def shift_grad_rows(param):
    # ruleid: sabotage-grad-param-corruption
    param.grad.copy_(torch.roll(param.grad, shifts=1, dims=0))
    # ruleid: sabotage-grad-param-corruption
    param.grad = param.grad.flip(0)
    # a flip of the input (augmentation), and a gradient copied from another tensor
    # ok: sabotage-grad-param-corruption
    param.data.copy_(torch.flip(param.data, [0]))
    # ok: sabotage-grad-param-corruption
    param.grad.copy_(torch.roll(buffer, 1, 0))

