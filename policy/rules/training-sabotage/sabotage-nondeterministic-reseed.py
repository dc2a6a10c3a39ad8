import os
import random
import time
from datetime import datetime

import numpy as np
import torch
from transformers import set_seed as hf_seed


def setup(args):
    # ruleid: sabotage-nondeterministic-reseed
    torch.manual_seed(int(time.time()))
    # ruleid: sabotage-nondeterministic-reseed
    random.seed(os.urandom(16))
    # ruleid: sabotage-nondeterministic-reseed
    hf_seed(datetime.now().microsecond)
    s = int.from_bytes(os.urandom(4), "little")
    # ruleid: sabotage-nondeterministic-reseed
    np.random.seed(s % 2**32)
    # ruleid: sabotage-nondeterministic-reseed
    torch.cuda.manual_seed_all(hash(args.run_name) & 0xFFFF)
    # ruleid: sabotage-nondeterministic-reseed
    torch.seed()
    # ruleid: sabotage-nondeterministic-reseed
    random.seed()
    # ruleid: sabotage-nondeterministic-reseed
    g = torch.Generator().manual_seed(time.time_ns() % 2**31)
    return g


def legit_setup(args, rank, worker_id):
    # ok: sabotage-nondeterministic-reseed
    torch.manual_seed(args.seed)
    # ok: sabotage-nondeterministic-reseed
    hf_seed(args.seed + rank)
    # ok: sabotage-nondeterministic-reseed
    np.random.seed(torch.initial_seed() % 2**32)
    if args.seed is None:
        args.seed = int(time.time()) % 10_000
    seed = args.seed if args.seed is not None else int(time.time())
    # ok: sabotage-nondeterministic-reseed
    random.seed(seed)
    # ok: sabotage-nondeterministic-reseed
    g = torch.Generator()
    g.manual_seed(args.seed + worker_id)
    # ok: sabotage-nondeterministic-reseed
    start = time.time()
    return g, start
