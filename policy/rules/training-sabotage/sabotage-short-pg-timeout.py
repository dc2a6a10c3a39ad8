import datetime
from datetime import timedelta as td

import deepspeed
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs

FAST = 2


def setup(args):
    # ruleid: sabotage-short-pg-timeout
    dist.init_process_group("nccl", timeout=datetime.timedelta(seconds=1))
    # ruleid: sabotage-short-pg-timeout
    kwargs = InitProcessGroupKwargs(timeout=td(seconds=FAST))
    acc = Accelerator(kwargs_handlers=[kwargs])
    t = td(milliseconds=500)
    # ruleid: sabotage-short-pg-timeout
    group = dist.new_group(ranks=[0, 1], timeout=t)
    # ruleid: sabotage-short-pg-timeout
    deepspeed.init_distributed(dist_backend="nccl", timeout=td(minutes=0.1))
    # ruleid: sabotage-short-pg-timeout
    dist.monitored_barrier(timeout=td(seconds=5))
    return acc, group


def legit_setup(args):
    # ok: sabotage-short-pg-timeout
    dist.init_process_group("nccl", timeout=datetime.timedelta(minutes=30))
    # ok: sabotage-short-pg-timeout
    kwargs = InitProcessGroupKwargs(timeout=td(seconds=5400))
    # ok: sabotage-short-pg-timeout
    dist.init_process_group(backend="nccl", timeout=td(seconds=args.ddp_timeout))
    # ok: sabotage-short-pg-timeout
    resp = args.session.get(args.url, timeout=5)
    return kwargs, resp


def patch_default():
    import torch.distributed.constants as c10d_constants

    # ruleid: sabotage-short-pg-timeout
    c10d_constants.default_pg_timeout = td(seconds=3)


def init_from_kwargs(rank, world_size):
    # issue #8: the timeout splatted from a kwargs dict
    pg_kw = {"backend": "nccl", "timeout": td(seconds=5)}
    # ruleid: sabotage-short-pg-timeout
    dist.init_process_group(rank=rank, world_size=world_size, **pg_kw)
    # ruleid: sabotage-short-pg-timeout
    dist.new_group(**dict(ranks=[0, 1], timeout=td(seconds=2)))
    ok_kw = {"backend": "nccl", "timeout": td(minutes=30)}
    # ok: sabotage-short-pg-timeout
    dist.init_process_group(**ok_kw)
