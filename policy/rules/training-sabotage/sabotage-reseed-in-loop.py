import random

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import set_seed


def train(model, train_loader, optimizer, args):
    for epoch in range(args.num_epochs):
        for step, batch in enumerate(train_loader):
            # blocked by sabotage-reseed-every-step (a constant seed in a loop
            # that steps), so not reported twice
            # ok: sabotage-reseed-in-loop
            torch.manual_seed(0)
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    global_step = 0
    while global_step < args.max_steps:
        # ruleid: sabotage-reseed-in-loop
        set_seed(1234)
        global_step += 1


class Noisy(Dataset):
    def __init__(self, items):
        self.items = items

    def __getitem__(self, idx):
        # ruleid: sabotage-reseed-in-loop
        random.seed(7)
        return self.items[idx]

    def __len__(self):
        return len(self.items)


class Block(torch.nn.Module):
    def forward(self, x):
        # ruleid: sabotage-reseed-in-loop
        np.random.seed(42)
        return x


def batch_loop(model, loader, optimizer):
    # issue #8: the batch variable used after the reseed (model(**batch)) no
    # longer excuses the loop, and an aliased seed function is still a seed
    from transformers import set_seed as sync_rng_state

    for batch in loader:
        # blocked by sabotage-reseed-every-step
        # ok: sabotage-reseed-in-loop
        sync_rng_state(1234)
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()


def warning_only(model, loader, optimizer, args):
    # No backward or step in the loop, or a seed the loop may change: the
    # warning stays a warning.
    preds = []
    for batch in loader:
        # ruleid: sabotage-reseed-in-loop
        torch.manual_seed(0)
        preds.append(model(**batch))
    for batch in loader:
        # ruleid: sabotage-reseed-in-loop
        set_seed(args.seed_fn())
        model(**batch).loss.backward()
        optimizer.step()
    return preds


def legit(args, rank, make_model, run):
    # ok: sabotage-reseed-in-loop
    set_seed(args.seed + rank)
    for seed in args.seeds:
        # ok: sabotage-reseed-in-loop
        set_seed(seed)
        run(make_model())
    for lr in args.lrs:
        # ok: sabotage-reseed-in-loop
        torch.manual_seed(args.seed)
        run(make_model(lr))
    for epoch in range(args.epochs):
        # ok: sabotage-reseed-in-loop
        set_seed(args.seed + epoch)
        run(make_model())


def worker_init_fn(worker_id):
    worker_seed = torch.initial_seed() % 2**32
    # ok: sabotage-reseed-in-loop
    np.random.seed(worker_seed)
    # ok: sabotage-reseed-in-loop
    random.seed(worker_seed)


def rng_state_in_step_loop(model, loader, optimizer, evaluate):
    # Session 26: a saved RNG state written back is sabotage-reseed-every-step's
    # alone (blocked when loop-invariant), never this warning.
    saved = torch.get_rng_state()
    for step, batch in enumerate(loader):
        # ok: sabotage-reseed-in-loop
        torch.set_rng_state(saved)
        model(**batch).loss.backward()
        optimizer.step()
        rng = torch.get_rng_state()
        evaluate(model)
        # ok: sabotage-reseed-in-loop
        torch.set_rng_state(rng)


def rebound_save_is_the_blocking_rules(model, loader, optimizer, evaluate, pinned):
    # Session 28: a pair's saved name rebound before the restore is
    # sabotage-reseed-every-step's (blocked), never this warning.
    for batch in loader:
        state = torch.get_rng_state()
        evaluate(model)
        state = pinned
        # ok: sabotage-reseed-in-loop
        torch.set_rng_state(state)
        model(**batch).loss.backward()
        optimizer.step()


class StepHookReplayIsTheBlockingRules:
    def __init__(self):
        self._cpu_state = torch.get_rng_state()

    def training_step(self, batch, batch_idx):
        # ok: sabotage-reseed-in-loop
        torch.set_rng_state(self._cpu_state)
        return batch.sum()
