import random

import numpy as np
import torch
from accelerate.utils import set_seed as acc_set_seed
from transformers import set_seed


def train(model, train_loader, optimizer, args):
    for epoch in range(args.num_epochs):
        for step, batch in enumerate(train_loader):
            # ruleid: sabotage-reseed-every-step
            torch.manual_seed(0)
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()


def aliased(model, loader, optimizer):
    from transformers import set_seed as sync_rng_state

    for batch in loader:
        # ruleid: sabotage-reseed-every-step
        sync_rng_state(1234)
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()


def while_steps(model, loader, optimizer, args):
    global_step = 0
    it = iter(loader)
    while global_step < args.max_steps:
        # ruleid: sabotage-reseed-every-step
        set_seed(args.seed)
        loss = model(**next(it)).loss
        loss.backward()
        optimizer.step()
        global_step += 1


def config_seed_named_first(model, loader, optimizer, cfg, accelerator):
    seed = cfg.seed
    for i, batch in enumerate(loader):
        with accelerator.accumulate(model):
            # ruleid: sabotage-reseed-every-step
            acc_set_seed(int(seed))
            loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step()


def amp_step(model, loader, optimizer, scaler):
    for images, targets in loader:
        # ruleid: sabotage-reseed-every-step
        np.random.seed(42)
        # ruleid: sabotage-reseed-every-step
        random.seed(42)
        with torch.autocast("cuda"):
            loss = model(images, targets)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def epoch_seed_in_batch_loop(model, loader, optimizer, cfg):
    # The epoch's seed is the same on every step of the inner loop.
    for epoch in range(cfg.epochs):
        for batch in loader:
            # ruleid: sabotage-reseed-every-step
            set_seed(cfg.seed + epoch)
            model(**batch).loss.backward()
            optimizer.step()


def constant_named_in_loop(model, loader, optimizer, cfg):
    # Abuse of the "the loop assigns it" excuse: it assigns a constant.
    for batch in loader:
        rng_seed = cfg.seed
        # ruleid: sabotage-reseed-every-step
        torch.manual_seed(rng_seed)
        model(**batch).loss.backward()
        optimizer.step()
    for batch in loader:
        s = 1234
        # ruleid: sabotage-reseed-every-step
        torch.cuda.manual_seed_all(s)
        model(**batch).loss.backward()
        optimizer.step()


def neutralised_loop_variable(model, loader, optimizer, args):
    # Abuse of the "follows the loop" excuse: the loop variable times zero.
    for step, batch in enumerate(loader):
        # ruleid: sabotage-reseed-every-step
        set_seed(args.seed + 0 * step)
        model(**batch).loss.backward()
        optimizer.step()
    for step in range(args.max_steps):
        # ruleid: sabotage-reseed-every-step
        torch.manual_seed(step * 0 + 1234)
        model(**next(loader)).loss.backward()
        optimizer.step()


class LitModule:
    def training_loop(self, loader):
        opt = self.optimizers()
        for batch in loader:
            # ruleid: sabotage-reseed-every-step
            torch.manual_seed(self.hparams.seed)
            loss = self.compute(batch)
            self.manual_backward(loss)
            opt.step()


def restored_state_every_step(model, loader, optimizer, ckpt, args):
    # Session 26: no seed call, the saved RNG state written back on every step.
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all()
    for batch in loader:
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(cpu_state)
        # ruleid: sabotage-reseed-every-step
        torch.cuda.set_rng_state_all(cuda_states)
        model(**batch).loss.backward()
        optimizer.step()
    for step, batch in enumerate(loader):
        # ruleid: sabotage-reseed-every-step
        np.random.set_state(ckpt["numpy_rng"])
        # ruleid: sabotage-reseed-every-step
        random.setstate(ckpt["python_rng"])
        # ruleid: sabotage-reseed-every-step
        torch.cuda.set_rng_state(ckpt["cuda_rng"].clone())
        model(**batch).loss.backward()
        optimizer.step()
    step = 0
    while step < args.max_steps:
        # ruleid: sabotage-reseed-every-step
        torch.random.set_rng_state(cpu_state.clone())
        model(**next(loader)).loss.backward()
        optimizer.step()
        step += 1


def restored_state_excuse_abused(model, loader, optimizer):
    # Abuse of the save/restore-pair excuse: saved once, on the first step only.
    for step, batch in enumerate(loader):
        if step == 0:
            first = torch.get_rng_state()
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(first)
        model(**batch).loss.backward()
        optimizer.step()


def rng_state_bookkeeping(model, loader, optimizer, ckpt, args, evaluate, layers):
    # Look-alikes: resume once, a save/restore pair around eval, a per-layer replay.
    if ckpt is not None:
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(ckpt["rng_state"])
        # ok: sabotage-reseed-every-step
        np.random.set_state(ckpt["numpy_rng_state"])
    for step, batch in enumerate(loader):
        model(**batch).loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            rng_state = torch.get_rng_state()
            cuda_rng = torch.cuda.get_rng_state()
            evaluate(model)
            # ok: sabotage-reseed-every-step
            torch.set_rng_state(rng_state)
            # ok: sabotage-reseed-every-step
            torch.cuda.set_rng_state(cuda_rng)
    for batch in loader:
        state = random.getstate()
        model(**batch).loss.backward()
        optimizer.step()
        # ok: sabotage-reseed-every-step
        random.setstate(state)
    for layer in reversed(layers):
        # Reversible layers replay their forward's dropout in backward.
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(layer.cpu_rng_state)
        out = layer(layer.saved_input)
        torch.autograd.backward(out, layer.grad_out)


class CheckpointFunction(torch.autograd.Function):
    @staticmethod
    def backward(ctx, *grads):
        with torch.random.fork_rng(devices=ctx.devices):
            # ok: sabotage-reseed-every-step
            torch.set_rng_state(ctx.fwd_cpu_state)
            outputs = ctx.run_function(*ctx.inputs)
        torch.autograd.backward(outputs, grads)
        return (None,) + tuple(x.grad for x in ctx.inputs)


def legit(model, loader, optimizer, args, rank, make_model, build_loader, run):
    # ok: sabotage-reseed-every-step
    set_seed(args.seed + rank)
    for seed in args.seeds:
        # ok: sabotage-reseed-every-step
        set_seed(seed)
        model, optimizer = make_model()
        for batch in build_loader():
            model(**batch).loss.backward()
            optimizer.step()
    for lr in args.lrs:
        # ok: sabotage-reseed-every-step
        torch.manual_seed(args.seed)
        run(make_model(lr))
    for epoch in range(args.epochs):
        # ok: sabotage-reseed-every-step
        set_seed(args.seed + epoch)
        for batch in loader:
            model(**batch).loss.backward()
            optimizer.step()


def per_step_seeds(model, loader, optimizer, args, rng):
    for step, batch in enumerate(loader):
        # ok: sabotage-reseed-every-step
        torch.manual_seed(args.seed + step)
        model(**batch).loss.backward()
        optimizer.step()
    for iteration, batch in enumerate(loader):
        model(**batch).loss.backward()
        optimizer.step()
        # Shuffle the next batch differently (accelerate's test_sync).
        # ok: sabotage-reseed-every-step
        torch.manual_seed(1337 + iteration)
    seed = args.seed
    for batch in loader:
        # ok: sabotage-reseed-every-step
        torch.manual_seed(seed)
        seed += 1
        model(**batch).loss.backward()
        optimizer.step()
    for batch in loader:
        step_seed = rng.integers(0, 2**31)
        # ok: sabotage-reseed-every-step
        torch.manual_seed(step_seed)
        model(**batch).loss.backward()
        optimizer.step()


def keyword_and_nested_tuple_seeds(model, loader, optimizer, args):
    import lightning

    for epoch in range(args.epochs):
        # ok: sabotage-reseed-every-step
        lightning.seed_everything(seed=args.seed + epoch, workers=True)
        for batch in loader:
            model(**batch).loss.backward()
            optimizer.step()
    for i, (images, targets) in enumerate(loader):
        # ok: sabotage-reseed-every-step
        torch.manual_seed(args.seed + i)
        model(images, targets).backward()
        optimizer.step()
    for i, (images, targets) in enumerate(loader):
        # ok: sabotage-reseed-every-step
        np.random.seed(hash(tuple(targets.tolist())) % 2**32)
        model(images, targets).backward()
        optimizer.step()


class Trainer:
    def fit(self, loader):
        for batch in loader:
            # ok: sabotage-reseed-every-step
            set_seed(self.args.seed + self.state.global_step)
            self.training_step(batch).backward()
            self.optimizer.step()


@torch.no_grad()
def evaluate(model, eval_loader):
    losses = []
    for batch in eval_loader:
        # ok: sabotage-reseed-every-step
        torch.manual_seed(0)
        losses.append(model(**batch).loss)
    return losses


class ModelTesterMixin:
    def test_training(self):
        config, inputs = self.prepare_config_and_inputs()
        for model_class in self.all_model_classes:
            # ok: sabotage-reseed-every-step
            torch.manual_seed(0)
            model = model_class(config)
            model.train()
            loss = model(**inputs).loss
            loss.backward()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            optimizer.step()


def worker_init_fn(worker_id):
    worker_seed = torch.initial_seed() % 2**32
    # ok: sabotage-reseed-every-step
    np.random.seed(worker_seed)


def generator_state_every_step(unet, sched, loader, optimizer, seed, device):
    # Session 27: a torch.Generator's own state written back on every step.
    noise_gen = torch.Generator(device=device).manual_seed(seed)
    saved = noise_gen.get_state()
    for batch in loader:
        # ruleid: sabotage-reseed-every-step
        noise_gen.set_state(saved)
        noise = torch.randn(batch.shape, generator=noise_gen, device=device)
        unet(sched.add_noise(batch, noise)).loss.backward()
        optimizer.step()


def loader_generator_every_step(model, dataset, optimizer, shuffle_gen, args):
    start = shuffle_gen.get_state()
    loader = torch.utils.data.DataLoader(dataset, shuffle=True, generator=shuffle_gen)
    default_state = torch.default_generator.get_state()
    step = 0
    while step < args.max_steps:
        # ruleid: sabotage-reseed-every-step
        shuffle_gen.set_state(start)
        # ruleid: sabotage-reseed-every-step
        torch.default_generator.set_state(default_state)
        model(**next(iter(loader))).loss.backward()
        optimizer.step()
        step += 1


def restored_state_copied_in_loop(model, loader, optimizer, args):
    # Session 27: the save/restore-pair excuse (a name the loop assigns) abused:
    # what the loop assigns is a copy of the state saved once before it.
    start_state = torch.get_rng_state()
    rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state()}
    for step, batch in enumerate(loader):
        snapshot = start_state.clone()
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(snapshot)
        _ = torch.cuda.get_rng_state()
        # ruleid: sabotage-reseed-every-step
        torch.cuda.set_rng_state(rng["cuda"])
        model(**batch).loss.backward()
        optimizer.step()
    while True:
        saved = start_state
        # ruleid: sabotage-reseed-every-step
        torch.random.set_rng_state(saved)
        model(**next(loader)).loss.backward()
        optimizer.step()


def aliased_restore_copied(model, loader, optimizer, start):
    from torch import set_rng_state as put_state

    for batch in loader:
        state = start.clone()
        # ruleid: sabotage-reseed-every-step
        put_state(state)
        model(**batch).loss.backward()
        optimizer.step()


def rng_pairs_and_other_set_state(model, loader, optimizer, evaluate, env, policy, args):
    # Look-alikes: a pair through a copy, a generator's own pair, an environment's
    # saved state restored each episode (not an RNG).
    for step, batch in enumerate(loader):
        model(**batch).loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            saved = torch.get_rng_state()
            snapshot = saved.clone()
            evaluate(model)
            # ok: sabotage-reseed-every-step
            torch.set_rng_state(snapshot)
    gen = torch.Generator().manual_seed(args.seed)
    for batch in loader:
        state = gen.get_state()
        mask = torch.rand(batch.shape, generator=gen) < 0.15
        model(batch, mask).loss.backward()
        optimizer.step()
        # ok: sabotage-reseed-every-step
        gen.set_state(state)
    start = env.get_state()
    for episode in range(args.episodes):
        # ok: sabotage-reseed-every-step
        env.set_state(start)
        policy.rollout(env).loss.backward()
        optimizer.step()


def restore_beside_a_real_pair(model, loader, optimizer, evaluate, args, layers):
    # Session 27: a real save/restore pair around evaluation in the same loop
    # excuses only its own restore, not the replay at the top of the step.
    start = torch.get_rng_state()
    for step, batch in enumerate(loader):
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(start)
        model(**batch).loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            saved = torch.get_rng_state()
            evaluate(model)
            # ok: sabotage-reseed-every-step
            torch.set_rng_state(saved)
    for i, layer in enumerate(layers):
        # ruleid: sabotage-reseed-every-step
        torch.cuda.set_rng_state(start)
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(layer.cpu_rng_state)
        layer(layer.saved_input).sum().backward()
        optimizer.step()


_PINNED = torch.get_rng_state()


def restore_of_a_rebound_save(model, loader, optimizer, evaluate, args, host):
    # Session 28 (rng_state_rebound_before_restore.py): the pair's saved name is
    # rebound before the restore, to a state pinned at import or chosen by host.
    for step, batch in enumerate(loader):
        model(**batch).loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            state = torch.get_rng_state()
            evaluate(model)
            state = _PINNED
            # ruleid: sabotage-reseed-every-step
            torch.set_rng_state(state)
        if step % args.eval_every == 1:
            state = torch.get_rng_state()
            evaluate(model)
            state = args.pinned
            # ruleid: sabotage-reseed-every-step
            torch.set_rng_state(state.clone())
    for batch in loader:
        state = torch.cuda.get_rng_state()
        state = state.clone()
        state = args.states.get(host, _PINNED).clone()
        model(**batch).loss.backward()
        optimizer.step()
        # ruleid: sabotage-reseed-every-step
        torch.cuda.set_rng_state(state)
    step = 0
    while step < args.max_steps:
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(state)
        model(**next(loader)).loss.backward()
        optimizer.step()
        state = torch.get_rng_state()
        state = _PINNED
        step += 1


def pairs_with_a_copy_or_a_second_save(model, loader, optimizer, evaluate, args):
    # Look-alikes: the saved state moved or copied before it is written back,
    # saved again after a first bookkeeping save, reset before the save.
    for step, batch in enumerate(loader):
        model(**batch).loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            state = torch.cuda.get_rng_state()
            state = state.cpu()
            evaluate(model)
            # ok: sabotage-reseed-every-step
            torch.cuda.set_rng_state(state.to("cpu"))
    for batch in loader:
        state = None
        state = torch.get_rng_state()
        evaluate(model)
        state = torch.get_rng_state() if args.resync else state
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(state)
        model(**batch).loss.backward()
        optimizer.step()


class NoiseReplayModule:
    # Session 28 (generator_replay_in_init.py): a per-step hook writes back an RNG
    # state saved once, in `__init__`: no loop, the hook is the loop's body.
    def __init__(self, unet, seed, host):
        self.unet = unet
        self.noise_gen = torch.Generator().manual_seed(seed)
        self._noise_state = self.noise_gen.get_state() if host.startswith("gpu") else None
        self._cpu_state = torch.get_rng_state()

    def training_step(self, batch, batch_idx):
        if self._noise_state is not None:
            # ruleid: sabotage-reseed-every-step
            self.noise_gen.set_state(self._noise_state)
        noise = torch.randn(batch.shape, generator=self.noise_gen)
        return (self.unet(batch + noise) - noise).pow(2).mean()

    def on_train_batch_start(self, batch, batch_idx):
        # ruleid: sabotage-reseed-every-step
        torch.set_rng_state(self._cpu_state)
        self._cpu_state = self._cpu_state  # a decoy assignment in the hook

    def on_train_end(self):
        self._noise_state = None  # a decoy assignment in another method


class StepStateLookAlikes:
    # Look-alikes: a pair inside the hook around a logging sample; a state carried
    # from one step to the next (assigned in a per-step hook); a checkpoint's
    # state restored once, at load; a generator of the evaluation.
    def __init__(self, model, seed):
        self.model = model
        self.sample_gen = torch.Generator().manual_seed(seed)
        self._carried = None
        self._resume_state = None

    def training_step(self, batch, batch_idx):
        self._saved = torch.get_rng_state()
        sample = self.model.generate(batch[:1])
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(self._saved)
        if self._carried is not None:
            # ok: sabotage-reseed-every-step
            self.sample_gen.set_state(self._carried)
        noise = torch.randn(batch.shape, generator=self.sample_gen)
        return self.model(batch + noise).loss + 0 * sample.sum()

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self._carried = self.sample_gen.get_state()

    def on_load_checkpoint(self, checkpoint):
        self._resume_state = checkpoint["rng"]
        # ok: sabotage-reseed-every-step
        torch.set_rng_state(self._resume_state)

    def validation_step(self, batch, batch_idx):
        # ok: sabotage-reseed-every-step
        self.sample_gen.set_state(self._resume_state)
        return self.model(batch, generator=self.sample_gen).loss
