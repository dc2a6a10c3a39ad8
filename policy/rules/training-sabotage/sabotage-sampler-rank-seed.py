import os

import numpy as np
import torch
import torch.distributed as dist
import torch.utils.data as tud
from torch.utils.data import DataLoader, DistributedSampler
from torch.utils.data.distributed import DistributedSampler as ShardSampler
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler


def build_loader(dataset, batch_size, base_seed=1234):
    rank = dist.get_rank()
    # ruleid: sabotage-sampler-rank-seed
    sampler = DistributedSampler(
        dataset, num_replicas=dist.get_world_size(), rank=rank, seed=base_seed + rank
    )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True)


def env_rank(dataset, cfg):
    # ruleid: sabotage-sampler-rank-seed
    s1 = ShardSampler(dataset, seed=cfg.seed + int(os.environ["LOCAL_RANK"]))
    # ruleid: sabotage-sampler-rank-seed
    s2 = tud.DistributedSampler(dataset, seed=cfg.seed * 31 + dist.get_rank())
    # ruleid: sabotage-sampler-rank-seed
    s3 = DistributedSampler(dataset, None, None, True, cfg.seed + dist.get_rank())
    return s1, s2, s3


class DataModule:
    def train_dataloader(self):
        # ruleid: sabotage-sampler-rank-seed
        sampler = StatefulDistributedSampler(self.ds, seed=self.seed + self.trainer.global_rank)
        return DataLoader(self.ds, sampler=sampler)

    def accel_loader(self, accelerator):
        # ruleid: sabotage-sampler-rank-seed
        sampler = DistributedSampler(self.ds, seed=self.seed + accelerator.process_index)
        return DataLoader(self.ds, sampler=sampler)


def rank_by_another_name(dataset, world, r, seed):
    # The rank argument itself, whatever it is called.
    # ruleid: sabotage-sampler-rank-seed
    a = DistributedSampler(dataset, num_replicas=world, rank=r, seed=seed + r)
    # ruleid: sabotage-sampler-rank-seed
    b = DistributedSampler(dataset, world, r, True, seed ^ r)
    return a, b


def sampler_factory(cfg):
    import functools

    # ruleid: sabotage-sampler-rank-seed
    return functools.partial(DistributedSampler, seed=cfg.seed + dist.get_rank())


def rank_named_first(dataset, seed):
    offset = dist.get_rank() * 1000
    # ruleid: sabotage-sampler-rank-seed
    return DistributedSampler(dataset, seed=seed + offset)


def epochs(model, sampler, loader, args, rank):
    for epoch in range(args.epochs):
        # ruleid: sabotage-sampler-rank-seed
        sampler.set_epoch(epoch + rank)
        for batch in loader:
            model(batch)


def written_after(dataset, args):
    sampler = DistributedSampler(dataset, seed=args.seed)
    # ruleid: sabotage-sampler-rank-seed
    sampler.seed = args.seed + dist.get_rank()
    return sampler


class PerRankSampler(DistributedSampler):
    def __iter__(self):
        g = torch.Generator()
        # ruleid: sabotage-sampler-rank-seed
        g.manual_seed(self.seed + self.epoch + self.rank)
        indices = torch.randperm(len(self.dataset), generator=g).tolist()
        return iter(indices[self.rank : self.total_size : self.num_replicas])


def seed_in_unpacked_kwargs(dataset, cfg, world, r):
    # Session 26: the seed in a keyword dict unpacked into the call.
    rank = dist.get_rank()
    kw = dict(num_replicas=dist.get_world_size(), rank=rank, shuffle=True, seed=cfg.seed + rank)
    # ruleid: sabotage-sampler-rank-seed
    a = DistributedSampler(dataset, **kw)
    # ruleid: sabotage-sampler-rank-seed
    b = DistributedSampler(dataset, **{"shuffle": True, "seed": cfg.seed + dist.get_rank()})
    opts = {"shuffle": True}
    opts["seed"] = cfg.seed + int(os.environ["RANK"])
    # ruleid: sabotage-sampler-rank-seed
    c = StatefulDistributedSampler(dataset, **opts)
    extra = dict(num_replicas=world, rank=r, seed=cfg.seed ^ r)
    # ruleid: sabotage-sampler-rank-seed
    d = ShardSampler(dataset, **extra)
    shift = dist.get_rank() * 7
    sampler_kwargs = {"seed": cfg.seed + shift}
    # ruleid: sabotage-sampler-rank-seed
    e = DistributedSampler(dataset, **sampler_kwargs)
    more = {"num_replicas": world}
    more.update(seed=cfg.seed + dist.get_rank())
    # ruleid: sabotage-sampler-rank-seed
    f = DistributedSampler(dataset, **more)
    return a, b, c, d, e, f


# Look-alikes: the shared seed, the rank argument, per-rank augmentation seeds.


def setup_data(dataset, args, rank, world_size):
    torch.manual_seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    # ok: sabotage-sampler-rank-seed
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, seed=args.seed)
    # ok: sabotage-sampler-rank-seed
    sampler2 = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
    aug_gen = torch.Generator().manual_seed(args.seed + rank)
    return DataLoader(
        dataset,
        sampler=sampler,
        generator=aug_gen,
        worker_init_fn=lambda wid: np.random.seed(args.seed + rank * 100 + wid),
    ), sampler2


class Recipe:
    def _setup_single_device(self, ds, shuffle):
        # ok: sabotage-sampler-rank-seed
        sampler = StatefulDistributedSampler(ds, num_replicas=1, rank=0, shuffle=shuffle, seed=0)
        # ok: sabotage-sampler-rank-seed
        legacy = DistributedSampler(ds, 1, 0, shuffle, 0)
        return DataLoader(dataset=ds, sampler=sampler), legacy

    def _setup_data(self, ds, shuffle):
        # ok: sabotage-sampler-rank-seed
        sampler = StatefulDistributedSampler(
            ds, num_replicas=self.world_size, rank=self.rank, shuffle=shuffle, seed=0
        )
        return DataLoader(dataset=ds, sampler=sampler)


def seeded_per_rank_elsewhere(dataset, args):
    seed = args.seed + dist.get_rank()
    torch.manual_seed(seed)
    # ok: sabotage-sampler-rank-seed
    return DistributedSampler(dataset, rank=dist.get_rank(), seed=args.seed)


def train(model, sampler, loader, args, rank):
    for epoch in range(args.epochs):
        # ok: sabotage-sampler-rank-seed
        sampler.set_epoch(epoch)
        # ok: sabotage-sampler-rank-seed
        torch.manual_seed(args.seed + rank + epoch)
        for batch in loader:
            model(batch)


def seed_worker(worker_id):
    worker_seed = torch.initial_seed() % 2**32
    # ok: sabotage-sampler-rank-seed
    np.random.seed(worker_seed)


class AugmentedDataset(torch.utils.data.Dataset):
    def __init__(self, items, seed, rank):
        self.items = items
        # ok: sabotage-sampler-rank-seed
        self.seed = seed + rank
        # ok: sabotage-sampler-rank-seed
        self.gen = torch.Generator().manual_seed(seed + rank)


class SharedSeedSampler(DistributedSampler):
    def __iter__(self):
        g = torch.Generator()
        # ok: sabotage-sampler-rank-seed
        g.manual_seed(self.seed + self.epoch)
        indices = torch.randperm(len(self.dataset), generator=g).tolist()
        return iter(indices[self.rank : self.total_size : self.num_replicas])


def sampler_from_kwargs(dataset, cfg, rank, world_size):
    # A shared seed in the kwargs, the rank beside it.
    sampler_kwargs = dict(num_replicas=world_size, rank=rank, shuffle=cfg.shuffle, seed=cfg.seed)
    # ok: sabotage-sampler-rank-seed
    sampler = DistributedSampler(dataset, **sampler_kwargs)
    loader_kwargs = {"num_workers": cfg.workers, "seed": cfg.seed + rank}
    # ok: sabotage-sampler-rank-seed
    other = DistributedSampler(dataset, **{"rank": rank, "seed": cfg.seed, "drop_last": True})
    return DataLoader(dataset, sampler=sampler, **loader_kwargs), other
