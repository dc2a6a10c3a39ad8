import datetime
import functools
from datetime import timedelta
from datetime import timedelta as td
from functools import partial

import deepspeed
import torch.distributed
import torch.distributed as d
import torch.distributed as dist
from torch.distributed import barrier, init_process_group as ipg
from torch.distributed import new_group as _subgroup
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


def setup_aliased(rank, world_size):
    # Issue #16: the process-group call under another name.
    # ruleid: sabotage-short-pg-timeout
    ipg("nccl", rank=rank, world_size=world_size, timeout=timedelta(seconds=1))
    # ruleid: sabotage-short-pg-timeout
    d.init_process_group("nccl", timeout=timedelta(seconds=1))
    # ruleid: sabotage-short-pg-timeout
    tp_group = _subgroup(ranks=[0, 1], timeout=td(seconds=2))
    init = torch.distributed.new_group
    # ruleid: sabotage-short-pg-timeout
    dp_group = init(ranks=[0, 2], timeout=td(milliseconds=900))
    start = ipg
    # ruleid: sabotage-short-pg-timeout
    start(backend="gloo", timeout=timedelta(0, 3))
    return tp_group, dp_group


def setup_aliased_fine(args):
    # ok: sabotage-short-pg-timeout
    ipg("nccl", timeout=timedelta(minutes=args.pg_timeout_minutes))
    # ok: sabotage-short-pg-timeout
    group = _subgroup(ranks=[0, 1], timeout=timedelta(hours=2))
    # ok: sabotage-short-pg-timeout
    ipg("nccl", timeout=timedelta(seconds=1800))
    barrier()
    init = args.session.get
    # ok: sabotage-short-pg-timeout
    resp = init(args.url, timeout=timedelta(seconds=5))
    return group, resp


def setup_partial(rank, world_size, args):
    # Issue #16: the timeout bound into a partial, or the partial called
    # later with it, or splatted from a literal dict.
    # ruleid: sabotage-short-pg-timeout
    init = functools.partial(dist.init_process_group, timeout=timedelta(seconds=5))
    init("nccl", rank=rank, world_size=world_size)
    # ruleid: sabotage-short-pg-timeout
    start = partial(ipg, backend="nccl", timeout=td(seconds=3))
    start(rank=rank, world_size=world_size)
    make_group = partial(dist.new_group, backend="gloo")
    # ruleid: sabotage-short-pg-timeout
    cpu_group = make_group(ranks=[0, 1], timeout=td(seconds=2))
    launch = functools.partial(torch.distributed.init_process_group, "nccl")
    # ruleid: sabotage-short-pg-timeout
    launch(rank=rank, world_size=world_size, timeout=timedelta(milliseconds=200))
    # ruleid: sabotage-short-pg-timeout
    boot = partial(dist.init_process_group, **{"timeout": td(seconds=1)})
    # ruleid: sabotage-short-pg-timeout
    ipg("nccl", rank=rank, **{"timeout": td(seconds=4), "world_size": world_size})
    return init, start, cpu_group, boot


def setup_partial_fine(args, session):
    # ok: sabotage-short-pg-timeout
    init = functools.partial(dist.init_process_group, timeout=timedelta(minutes=30))
    # ok: sabotage-short-pg-timeout
    start = partial(dist.init_process_group, backend="nccl", timeout=td(seconds=args.ddp_timeout))
    make_group = partial(dist.new_group, backend="gloo")
    # ok: sabotage-short-pg-timeout
    cpu_group = make_group(ranks=[0, 1], timeout=timedelta(hours=1))
    # ok: sabotage-short-pg-timeout
    fetch = partial(session.get, timeout=timedelta(seconds=5))
    retry = partial(args.retry_call, attempts=3)
    # ok: sabotage-short-pg-timeout
    retry(fetch, timeout=timedelta(seconds=5))
    return init, start, cpu_group
