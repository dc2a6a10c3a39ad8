import torch


def train_step(model, batch, optimizer, step, args):
    loss = model(**batch).loss
    loss.backward()
    for p in model.parameters():
        if step % 7 == 3:
            # ruleid: sabotage-conditional-grad-drop
            p.grad = None
    head = model.lm_head.weight
    if step > args.warmup_steps and loss.item() < 2.0:
        # ruleid: sabotage-conditional-grad-drop
        head.grad.zero_()
    for p in model.transformer.h[-1].parameters():
        if p.numel() > 4096:
            # ruleid: sabotage-conditional-grad-drop
            p.grad.data.mul_(0.0)
    optimizer.step()


def zero_grad(params, set_to_none=True):
    for p in params:
        if set_to_none:
            # ok: sabotage-conditional-grad-drop
            p.grad = None
        else:
            # ok: sabotage-conditional-grad-drop
            p.grad.zero_()


def legit_step(model, optimizer, scaler, args):
    for name, p in model.named_parameters():
        # ok: sabotage-conditional-grad-drop
        if p.grad is not None and not torch.isfinite(p.grad).all():
            p.grad = None
        # ok: sabotage-conditional-grad-drop
        if "embed_tokens" in name and args.freeze_embeddings:
            p.grad = None
    # ok: sabotage-conditional-grad-drop
    optimizer.zero_grad(set_to_none=True)
    for p in model.parameters():
        # ok: sabotage-conditional-grad-drop
        if not p.requires_grad:
            p.grad = None
