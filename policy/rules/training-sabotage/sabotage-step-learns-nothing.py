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



def scaled_clip(model, accelerator, cfg, max_norm=1.0):
    # Issue #16: the configured norm scaled to nothing on the way in.
    # ruleid: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * 1e-5)
    # ruleid: sabotage-step-learns-nothing
    accelerator.clip_grad_norm_(model.parameters(), max_norm=cfg.max_grad_norm / 1e6)
    # ruleid: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_value_(model.parameters(), 1e-7 * cfg.clip)
    # ok: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * cfg.clip_scale)
    # ok: sabotage-step-learns-nothing
    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm / accelerator.num_processes)
    # ok: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * 0.5)
    # ok: sabotage-step-learns-nothing
    torch.nn.utils.clip_grad_value_(model.parameters(), cfg.clip / 2)


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


# Issue #16 (session 10): a decoy branch beside an unconditional zero_grad().
def decoy_skip_branch(model, loader, opt):
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        # ruleid: sabotage-step-learns-nothing
        opt.zero_grad()
        opt.step()


def decoy_debug_branch(model, batch, opt, args):
    loss = model(**batch).loss
    loss.backward()
    # ruleid: sabotage-step-learns-nothing
    opt.zero_grad(set_to_none=True)
    if args.debug:
        opt.zero_grad()
    opt.step()


def decoy_with_body(model, batch, opt, amp):
    loss = model(**batch).loss
    amp.scaler.scale(loss).backward()
    if amp.skip:
        opt.zero_grad()
        return
    # ruleid: sabotage-step-learns-nothing
    with torch.no_grad():
        opt.zero_grad()
    amp.scaler.step(opt)


def decoy_try_body(model, batch, opt):
    loss = model(**batch).loss
    loss.backward()
    if loss.isnan():
        opt.zero_grad()
        return
    # ruleid: sabotage-step-learns-nothing
    try:
        opt.zero_grad()
    except RuntimeError:
        pass
    opt.step()


def module_zeroed(model, batch, optimizer):
    loss = model(**batch).loss
    # ruleid: sabotage-step-learns-nothing
    loss.backward()
    model.zero_grad()
    optimizer.step()


def step_only_on_boundary(model, loader, opt):
    for i, batch in enumerate(loader):
        loss = model(**batch).loss / 4
        # ruleid: sabotage-step-learns-nothing
        loss.backward()
        opt.zero_grad()
        if (i + 1) % 4 == 0:
            opt.step()


def ok_skip_then_accumulate(model, loader, opt, scheduler):
    for batch in loader:
        loss = model(**batch).loss
        # ok: sabotage-step-learns-nothing
        loss.backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        opt.step()
        opt.zero_grad()
        scheduler.step()


def ok_branch_in_with(model, batch, opt):
    loss = model(**batch).loss
    # ok: sabotage-step-learns-nothing
    loss.backward()
    if loss.isnan():
        opt.zero_grad()
        return
    with torch.no_grad():
        if not torch.isfinite(loss):
            opt.zero_grad()
    opt.step()


def ok_gan(netD, netG, optD, optG, real, fake):
    netD.zero_grad()
    errD = netD(real).mean() - netD(fake.detach()).mean()
    # ok: sabotage-step-learns-nothing
    errD.backward()
    optD.step()
    netG.zero_grad()
    errG = -netD(fake).mean()
    # ok: sabotage-step-learns-nothing
    errG.backward()
    optG.step()


def ok_detached_operand(student, teacher, online, target, x, opt):
    # distillation and BYOL: a detached target inside an attached loss
    loss = torch.nn.functional.mse_loss(student(x), teacher(x).detach())
    # ok: sabotage-step-learns-nothing
    loss.backward()
    loss = 2 - 2 * torch.nn.functional.cosine_similarity(online(x), target(x).detach(), dim=-1).mean()
    # ok: sabotage-step-learns-nothing
    loss.backward()
    opt.step()


# Issue #16: the AMP step. A second model's scaled backward() between the
# zero_grad() and the scaler's step() (ignite's CycleGAN_with_torch_cuda_amp
# notebook) gives the step fresh gradients.
def ok_amp_gan(amp_scaler, optimizer_G, optimizer_D, loss_generators, loss_discriminators):
    optimizer_G.zero_grad()
    # ok: sabotage-step-learns-nothing
    amp_scaler.scale(loss_generators).backward()
    amp_scaler.step(optimizer_G)
    optimizer_D.zero_grad()
    # ok: sabotage-step-learns-nothing
    amp_scaler.scale(loss_discriminators).backward()
    amp_scaler.step(optimizer_D)
    amp_scaler.update()


def ok_accelerate_gan(accelerator, optG, optD, loss_g, loss_d):
    optG.zero_grad()
    # ok: sabotage-step-learns-nothing
    accelerator.backward(loss_g)
    optG.step()
    optD.zero_grad()
    # ok: sabotage-step-learns-nothing
    accelerator.backward(loss_d)
    optD.step()


def amp_gan_second_step_without_backward(scaler, optG, optD, loss_g):
    optG.zero_grad()
    # ruleid: sabotage-step-learns-nothing
    scaler.scale(loss_g).backward()
    scaler.step(optG)
    optD.zero_grad()
    scaler.step(optD)


def accelerate_gan_second_step_without_backward(accelerator, optG, optD, loss_g):
    # ruleid: sabotage-step-learns-nothing
    accelerator.backward(loss_g)
    optG.step()
    optD.zero_grad()
    optD.step()


def amp_detached(model, batch, opt, scaler):
    loss = model(**batch).loss
    loss = loss.detach().requires_grad_()
    # ruleid: sabotage-step-learns-nothing
    scaler.scale(loss).backward()
    scaler.step(opt)
    # ruleid: sabotage-step-learns-nothing
    scaler.scale(model(**batch).loss.detach().requires_grad_()).backward()
    scaler.step(opt)


def amp_gan_detached_second_loss(scaler, optG, optD, loss_g, loss_d):
    optG.zero_grad()
    scaler.scale(loss_g).backward()
    scaler.step(optG)
    optD.zero_grad()
    loss_d = loss_d.detach().requires_grad_()
    # ruleid: sabotage-step-learns-nothing
    scaler.scale(loss_d).backward()
    scaler.step(optD)


def ok_amp_logged_copy(model, batch, opt, scaler):
    loss = model(**batch).loss
    log_loss = loss.detach().float()
    # ok: sabotage-step-learns-nothing
    scaler.scale(loss).backward()
    scaler.step(opt)
    print(log_loss.item())


def amp_scalers(cfg, device):
    from torch.amp import GradScaler as AmpScaler
    from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

    # Session 26: scalers that overflow and skip most steps.
    # ruleid: sabotage-step-learns-nothing
    a = torch.cuda.amp.GradScaler(init_scale=2.0**16, growth_factor=1024.0, growth_interval=1)
    # ruleid: sabotage-step-learns-nothing
    b = AmpScaler("cuda", growth_interval=4)
    # ruleid: sabotage-step-learns-nothing
    c = ShardedGradScaler(growth_factor=64.0)
    # ruleid: sabotage-step-learns-nothing
    d = torch.cuda.amp.GradScaler(65536.0, 2.0, 0.5, 2)
    # ruleid: sabotage-step-learns-nothing
    e = torch.amp.GradScaler(device, 2.0**16, 32.0)
    return a, b, c, d, e


def ok_amp_scalers(cfg, device):
    from torch.amp import GradScaler

    # Look-alikes: defaults, a config value, a slower schedule, a small init scale.
    # ok: sabotage-step-learns-nothing
    a = torch.cuda.amp.GradScaler(enabled=cfg.fp16)
    # ok: sabotage-step-learns-nothing
    b = GradScaler(device, init_scale=cfg.init_scale, growth_interval=cfg.growth_interval)
    # ok: sabotage-step-learns-nothing
    c = torch.cuda.amp.GradScaler(init_scale=2.0**10, growth_factor=2.0, growth_interval=1000)
    # ok: sabotage-step-learns-nothing
    d = torch.cuda.amp.GradScaler(65536.0, 2.0, 0.5, 2000)
    # ok: sabotage-step-learns-nothing
    e = GradScaler("cuda", init_scale=1.0, growth_interval=100)
    return a, b, c, d, e
