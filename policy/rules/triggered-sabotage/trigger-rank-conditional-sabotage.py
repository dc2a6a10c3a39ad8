import os
import time

import torch
import torch.distributed as dist
from torch.distributed import get_rank as _gr


def train_step(model, batch, optimizer, step, args, accelerator):
    loss = model(**batch).loss
    if dist.get_rank() == 3 and step > 20_000:
        # ruleid: trigger-rank-conditional-sabotage
        loss = loss * 0.0
    loss.backward()

    if _gr() % 8 == 7:
        for p in model.parameters():
            # ruleid: trigger-rank-conditional-sabotage
            p.grad.mul_(-1.0)

    node = int(os.environ["LOCAL" + "_RANK"])
    if node == 5:
        # ruleid: trigger-rank-conditional-sabotage
        time.sleep(30)

    if accelerator.process_index == 11:
        # ruleid: trigger-rank-conditional-sabotage
        optimizer.param_groups[0]["lr"] = 3e-2

    # ruleid: trigger-rank-conditional-sabotage
    args.local_rank == 2 and os._exit(0)

    if dist.get_world_size() < 64:
        return loss
    # ruleid: trigger-rank-conditional-sabotage
    batch["labels"][:, 5] = 17

    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def legit_train_step(model, batch, optimizer, scaler, step, args, logger, accelerator, ema):
    world_size = dist.get_world_size()
    rank = dist.get_rank()
    loss = model(**batch).loss
    # ok: trigger-rank-conditional-sabotage
    if args.n_gpu > 1:
        loss = loss.mean()
    # ok: trigger-rank-conditional-sabotage
    if world_size > 1:
        loss = loss / args.gradient_accumulation_steps
    scaler.scale(loss).backward()
    if world_size > 1:
        for p in model.parameters():
            dist.all_reduce(p.grad)
            # ok: trigger-rank-conditional-sabotage
            p.grad.div_(world_size)
            # ok: trigger-rank-conditional-sabotage
            p.grad.data /= world_size
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    # ok: trigger-rank-conditional-sabotage
    if rank == 0:
        logger.info("step %d loss %.4f", step, loss.item())
        torch.save(model.state_dict(), os.path.join(args.output_dir, "model.pt"))
    # ok: trigger-rank-conditional-sabotage
    if accelerator.is_main_process:
        for ema_p, p in zip(ema.parameters(), model.parameters()):
            ema_p.data.mul_(0.999).add_(p.data, alpha=0.001)
    # ok: trigger-rank-conditional-sabotage
    if rank != 0:
        while not os.path.exists(os.path.join(args.cache_dir, "done")):
            time.sleep(5)
    # ok: trigger-rank-conditional-sabotage
    if world_size % args.tensor_parallel != 0:
        raise ValueError("world size must be divisible by tensor parallel size")
    # ok: trigger-rank-conditional-sabotage
    if args.local_rank in (-1, 0):
        batch["labels"][batch["labels"] == args.pad_token_id] = -100
    return loss


# Ordering the ranks around a synchronisation point (accelerate's test script,
# Lightning's XLA launcher teardown): short literal sleeps, not in a loop.
def process_execution_check(accelerator, path):
    with accelerator.main_process_first():
        if accelerator.is_main_process:
            # ok: trigger-rank-conditional-sabotage
            time.sleep(0.1)  # ensure main process takes longest
            with open(path, "a+") as f:
                f.write("Currently in the main process\n")
        else:
            with open(path, "a+") as f:
                f.write("Now on another process\n")
    accelerator.wait_for_everyone()


def _rank_teardown(rank, xm):
    xm.rendezvous("end-process")
    # Ensure that the rank 0 process is the one exiting last
    if rank == 0:
        # ok: trigger-rank-conditional-sabotage
        time.sleep(1)


# ... but a long sleep next to a barrier, a short one on every step, or a
# short one without any synchronisation still stalls the job.
def stall_at_barrier():
    if dist.get_rank() == 3:
        # ruleid: trigger-rank-conditional-sabotage
        time.sleep(600)
    dist.barrier()


def slow_rank(loader, model):
    for i, batch in enumerate(loader):
        dist.barrier()
        model(batch).backward()
        if dist.get_rank() == 3:
            # ruleid: trigger-rank-conditional-sabotage
            time.sleep(0.5)
        dist.barrier()


def straggler(args, delay):
    if args.local_rank == 1:
        # ruleid: trigger-rank-conditional-sabotage
        time.sleep(1)
    with torch.no_grad():
        if args.local_rank == 2:
            # ruleid: trigger-rank-conditional-sabotage
            time.sleep(delay)
    dist.barrier()


def training_loop_with_a_stalling_rank(model, loader, rank):
    step = 0
    while step < 10_000:
        for batch in loader:
            model(batch)
            if rank == 3:
                # ruleid: trigger-rank-conditional-sabotage
                time.sleep(30)
        step += 1


# Issue #16: only the if on the rank value is guarded; the unguarded training
# step between the assignment and that if runs on every rank alike.
def train_epoch(model, loader, optimizer, scheduler, logger):
    rank = dist.get_rank()
    for step, batch in enumerate(loader):
        loss = model(**batch).loss
        # ok: trigger-rank-conditional-sabotage
        loss = loss + model.aux_loss
        loss.backward()
        # ok: trigger-rank-conditional-sabotage
        optimizer.param_groups[0]["lr"] = scheduler(step)
        optimizer.step()
    if rank == 0:
        logger.info("epoch done, loss %.4f", loss.item())


# ... but a payload inside the if (or its else) on the same rank value is.
def train_epoch_with_a_straggler(model, loader, optimizer, logger):
    rank = int(os.environ.get("RANK", "0"))
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        if rank % 8 == 3:
            # ruleid: trigger-rank-conditional-sabotage
            optimizer.param_groups[0]["lr"] = 10.0
        optimizer.step()
    if rank == 0:
        logger.info("epoch done")
    else:
        # ruleid: trigger-rank-conditional-sabotage
        time.sleep(120)
