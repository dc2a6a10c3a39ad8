# Cases for sabotage-step-learns-nothing (issue #16, session 9 red team).
import torch


def detached(model, batch, opt):
    loss = model(**batch).loss
    loss = loss.detach().requires_grad_()
    # ruleid: sabotage-step-learns-nothing
    loss.backward()
    opt.step()


def detached_inline(model, batch, opt):
    out = model(**batch)
    # ruleid: sabotage-step-learns-nothing
    out.loss.detach().requires_grad_(True).backward()
    opt.step()


def from_item(model, batch, opt):
    loss = torch.tensor(model(**batch).loss.item(), requires_grad=True)
    # ruleid: sabotage-step-learns-nothing
    loss.backward()
    opt.step()


def lightning_manual(self, batch):
    loss = self.model(**batch).loss.data
    # ruleid: sabotage-step-learns-nothing
    self.manual_backward(loss)


def rebound(model, batch, opt):
    loss = model(**batch).loss.detach()
    loss = model(**batch).loss
    # ok: sabotage-step-learns-nothing
    loss.backward()


def zeroed_between(model, batch, opt):
    loss = model(**batch).loss
    # ruleid: sabotage-step-learns-nothing
    loss.backward()
    opt.zero_grad(set_to_none=True)
    opt.step()


def zeroed_amp(model, batch, opt, scaler):
    loss = model(**batch).loss
    # ruleid: sabotage-step-learns-nothing
    scaler.scale(loss).backward()
    opt.zero_grad()
    scaler.step(opt)
    scaler.update()


def accelerate_zeroed(accelerator, model, batch, opt):
    loss = model(**batch).loss
    # ruleid: sabotage-step-learns-nothing
    accelerator.backward(loss)
    opt.zero_grad()
    opt.step()


def nan_skip(model, loader, opt):
    for batch in loader:
        loss = model(**batch).loss
        # ok: sabotage-step-learns-nothing
        loss.backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        opt.step()


def nan_skip_amp(model, loader, opt, scaler, accelerator):
    for batch in loader:
        loss = model(**batch).loss
        # ok: sabotage-step-learns-nothing
        scaler.scale(loss).backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        scaler.step(opt)
        loss = model(**batch).loss
        # ok: sabotage-step-learns-nothing
        accelerator.backward(loss)
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        opt.step()


def tiny_clip(model, accelerator):
    # ruleid: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e-12)
    # ruleid: sabotage-step-learns-nothing
    accelerator.clip_grad_value_(model.parameters(), 0.0)


def fine(model, batch, opt, scaler, accelerator, teacher):
    # ok: sabotage-step-learns-nothing
    opt.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    # ok: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    # ok: sabotage-step-learns-nothing
    accelerator.clip_grad_norm_(model.parameters(), max_norm=0.5)
    # distillation: the teacher's logits are detached, the loss is not
    t = teacher(**batch).logits.detach()
    loss = torch.nn.functional.mse_loss(model(**batch).logits, t)
    # ok: sabotage-step-learns-nothing
    loss.backward()
    opt.step()
    # logging a detached copy
    log_loss = loss.detach().float()
    # ok: sabotage-step-learns-nothing
    print(log_loss.item())
    # gradient accumulation: the zero_grad after the step
    for i, b in enumerate(batch):
        loss = model(**b).loss / 4
        # ok: sabotage-step-learns-nothing
        loss.backward()
        if (i + 1) % 4 == 0:
            opt.step()
            opt.zero_grad()
