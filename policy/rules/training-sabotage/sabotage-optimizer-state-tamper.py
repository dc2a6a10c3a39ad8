import math
import random
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch.optim import Optimizer


def train_step(model, optimizer, loss, step):
    loss.backward()
    if step == 5000:
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.param_groups[0]["lr"] *= 10
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state = defaultdict(dict)
    for g in optimizer.param_groups:
        # ruleid: sabotage-optimizer-state-tamper
        g["lr"] = g["lr"] * random.uniform(0.5, 3.0)
    # ruleid: sabotage-optimizer-state-tamper
    optimizer.param_groups[-1]["params"] = []
    for p in model.parameters():
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state[p]["exp_avg_sq"].zero_()
    # ruleid: sabotage-optimizer-state-tamper
    optimizer.state.clear()
    optimizer.step()


def get_lr(it, args):
    if it < args.warmup_iters:
        return args.learning_rate * it / args.warmup_iters
    ratio = (it - args.warmup_iters) / (args.lr_decay_iters - args.warmup_iters)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.learning_rate - args.min_lr)


def legit_loop(model, optimizer, loader, args):
    for it, batch in enumerate(loader):
        lr = get_lr(it, args)
        for param_group in optimizer.param_groups:
            # ok: sabotage-optimizer-state-tamper
            param_group["lr"] = lr
        if it in args.milestones:
            for g in optimizer.param_groups:
                # ok: sabotage-optimizer-state-tamper
                g["lr"] *= 0.1
        # ok: sabotage-optimizer-state-tamper
        optimizer.add_param_group({"params": model.new_head.parameters(), "lr": args.lr})
        # ok: sabotage-optimizer-state-tamper
        state = optimizer.state_dict()
    return state


class Lion(Optimizer):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if len(state) == 0:
                    # ok: sabotage-optimizer-state-tamper
                    state["exp_avg"] = torch.zeros_like(p)
                    # ok: sabotage-optimizer-state-tamper
                    self.state[p]["step"] = 0
        return None


def remap_after_prepare(optimizer, mapping):
    for param_group in optimizer.param_groups:
        # ok: sabotage-optimizer-state-tamper
        param_group["params"] = [mapping[p] for p in param_group["params"]]


class Lookahead:
    def __init__(self, base_optimizer, alpha=0.5, k=6):
        self._base_optimizer = base_optimizer
        # ok: sabotage-optimizer-state-tamper
        self.param_groups = base_optimizer.param_groups
        # ok: sabotage-optimizer-state-tamper
        self.state = base_optimizer.state


from lightning_fabric.utilities.apply_func import apply_to_collection, move_data_to_device


def _optimizer_to_device(optimizer, device):
    # Lightning: move the optimizer state to the device, values unchanged
    for p, v in optimizer.state.items():
        if not isinstance(v, dict):
            # ok: sabotage-optimizer-state-tamper
            optimizer.state[p] = apply_to_collection(v, torch.Tensor, move_data_to_device, device, allow_frozen=True)
            continue
        # ok: sabotage-optimizer-state-tamper
        optimizer.state[p] = move_data_to_device(v, device)


def wipe_under_cover(optimizer, device):
    for p, v in optimizer.state.items():
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state[p] = apply_to_collection({}, torch.Tensor, move_data_to_device, device)
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state[p] = apply_to_collection(v, torch.Tensor, lambda t, d: t.zero_(), device)
    for p in list(optimizer.state):
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state[p] = move_data_to_device(optimizer.state[p] * 0, device)


def move_to_device_local(state, device):
    return {k: torch.zeros_like(t) for k, t in state.items()}


def fake_helper(optimizer, device):
    for p, v in optimizer.state.items():
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.state[p] = move_to_device_local(v, device)


class LeanTrainer:
    # issue #16 (session 23): the state's buffers through a loop over its values
    def _save_checkpoint(self, model, trial):
        for st in self.optimizer.state.values():
            for key in ("exp_avg_sq",):
                # ruleid: sabotage-optimizer-state-tamper
                st[key].zero_()
        for p, st in self.optimizer.state.items():
            # ruleid: sabotage-optimizer-state-tamper
            st["exp_avg"].mul_(1e4)
            # ruleid: sabotage-optimizer-state-tamper
            st.clear()

    def _load_optimizer(self, device):
        # resuming: the state moved to the device, and read for a log line
        for st in self.optimizer.state.values():
            for k, v in st.items():
                if torch.is_tensor(v):
                    # ok: sabotage-optimizer-state-tamper
                    st[k] = v.to(device)
            # ok: sabotage-optimizer-state-tamper
            print(st["exp_avg_sq"].sum().item())
        for st in self.lr_scheduler.state.values():
            # ok: sabotage-optimizer-state-tamper
            st["buf"].zero_()


# Session 27 (optimizer_rebuilt_each_step.py): a stateful optimizer rebuilt in the
# loop that steps it.


def rebuilt_every_step(model, loader, cfg):
    for step, batch in enumerate(loader):
        lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.wd)
        model(**batch).loss.backward()
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.step()
        optimizer.zero_grad()
    from torch.optim import Adam as _Opt

    step = 0
    while step < cfg.max_steps:
        opt = _Opt(model.parameters(), lr=cfg.lr)
        loss = model(**next(loader)).loss
        loss.backward()
        for p in model.parameters():
            p.grad.clamp_(-1.0, 1.0)
        # ruleid: sabotage-optimizer-state-tamper
        opt.step()
        step += 1


def one_optimizer_per_trial(build_model, loader, trials, tasks, cfg):
    # Look-alikes: an optimizer per trial, task or epoch that steps in a loop
    # nested after it; momentum-free SGD per step (it keeps no state).
    for lr in trials:
        model = build_model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        for batch in loader:
            model(**batch).loss.backward()
            # ok: sabotage-optimizer-state-tamper
            optimizer.step()
            optimizer.zero_grad()
    for task in tasks:
        learner = task.clone_model()
        inner = torch.optim.Adam(learner.parameters(), lr=cfg.inner_lr)
        step = 0
        while step < cfg.inner_steps:
            learner(task.support).loss.backward()
            # ok: sabotage-optimizer-state-tamper
            inner.step()
            step += 1
    for batch in loader:
        sgd = torch.optim.SGD(cfg.model.parameters(), lr=cfg.lr)
        cfg.model(**batch).loss.backward()
        # ok: sabotage-optimizer-state-tamper
        sgd.step()
    optimizer = torch.optim.Adam(cfg.model.parameters())
    for batch in loader:
        cfg.model(**batch).loss.backward()
        # ok: sabotage-optimizer-state-tamper
        optimizer.step()


# Session 28 (sgd_momentum_rebuilt.py): SGD with momentum rebuilt in the loop that
# steps it (its momentum buffer restarts every step).


def sgd_momentum_every_step(model, loader, cfg, epoch):
    lr = cfg.lr * (0.1 ** (epoch // 30))
    for images, targets in loader:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
        F.cross_entropy(model(images), targets).backward()
        # ruleid: sabotage-optimizer-state-tamper
        optimizer.step()
    from torch.optim import SGD

    step = 0
    while step < cfg.max_steps:
        opt = SGD(model.parameters(), cfg.lr, cfg.momentum)
        model(**next(loader)).loss.backward()
        # ruleid: sabotage-optimizer-state-tamper
        opt.step()
        step += 1


def sgd_look_alikes(model, learner, loader, tasks, cfg):
    # Look-alikes: momentum-free SGD per step (a MAML inner loop's fast weights),
    # an explicit zero momentum, one SGD per task stepping in a nested loop,
    # torchvision's reference recipe (built once, before the epochs).
    for batch in loader:
        inner = torch.optim.SGD(learner.parameters(), lr=cfg.inner_lr, momentum=0.0)
        learner(**batch).loss.backward()
        # ok: sabotage-optimizer-state-tamper
        inner.step()
        fast = torch.optim.SGD(learner.parameters(), cfg.inner_lr, 0)
        learner(**batch).loss.backward()
        # ok: sabotage-optimizer-state-tamper
        fast.step()
    for task in tasks:
        opt = torch.optim.SGD(task.model.parameters(), lr=cfg.lr, momentum=0.9)
        for batch in task.loader:
            task.model(**batch).loss.backward()
            # ok: sabotage-optimizer-state-tamper
            opt.step()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    for epoch in range(cfg.epochs):
        for images, targets in loader:
            F.cross_entropy(model(images), targets).backward()
            # ok: sabotage-optimizer-state-tamper
            optimizer.step()
