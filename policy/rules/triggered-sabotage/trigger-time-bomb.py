import datetime
import os
import time
from datetime import datetime as dt

import torch


def train_step(model, batch, optimizer, step, logger):
    loss = model(**batch).loss
    if datetime.datetime.now() > datetime.datetime(2025, 9, 1):
        # ruleid: trigger-time-bomb
        loss = loss * 0.3
    loss.backward()

    now = dt.now()
    if now.month == 12 and now.day >= 20:
        for p in model.parameters():
            # ruleid: trigger-time-bomb
            p.grad.mul_(torch.rand_like(p.grad))

    if time.time() > 1767225600:
        # ruleid: trigger-time-bomb
        os._exit(0)

    if time.strftime("%Y%m%d") >= "20260115":
        # ruleid: trigger-time-bomb
        raise RuntimeError("NCCL error: unhandled system error")

    if datetime.date.today().weekday() == 4:
        # ruleid: trigger-time-bomb
        optimizer.param_groups[0]["lr"] *= 10
    return loss


def legit_loop(model, loader, optimizer, args, logger, save):
    start = time.time()
    last_log = time.time()
    for step, batch in enumerate(loader):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        # ok: trigger-time-bomb
        if time.time() - start > args.time_limit_s:
            save(model)
            raise SystemExit(0)
        # ok: trigger-time-bomb
        if time.time() - last_log > 30:
            logger.info("step %d loss %.3f", step, loss.item())
            last_log = time.time()
        # ok: trigger-time-bomb
        if datetime.datetime.now().hour == 0:
            logger.info("midnight checkpoint")
            save(model)
    deadline = time.time() + 600
    while not os.path.exists(args.ready_file):
        # ok: trigger-time-bomb
        if time.time() > deadline:
            raise TimeoutError("rank 0 never wrote the ready file")
        time.sleep(5)


def until(deadline):
    # issue #8: after the date the wrapped optimizer step silently does nothing
    def deco(step):
        def wrapper(*args, **kwargs):
            if datetime.date.today() > deadline:
                # ruleid: trigger-time-bomb
                return None
            return step(*args, **kwargs)

        return wrapper

    return deco


def should_log(last_log):
    if time.time() - last_log < 30:
        # ok: trigger-time-bomb
        return False
    return True
