import random
import time
from time import sleep as _pause

import requests
import torch
from torch.utils.data import Dataset


class ShardDataset(Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, idx):
        # ruleid: sabotage-sleep-in-training-path
        time.sleep(0.05)
        return torch.load(self.paths[idx])


class Head(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 8:
            # ruleid: sabotage-sleep-in-training-path
            _pause(random.random())
        return x


def train(model, train_loader, optimizer):
    for batch in train_loader:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        # ruleid: sabotage-sleep-in-training-path
        torch.cuda._sleep(10_000_000)


def training_step(self, batch, batch_idx):
    # ruleid: sabotage-sleep-in-training-path
    time.sleep(0.2)
    # ruleid: sabotage-sleep-in-training-path
    getattr(__import__("ti" + "me"), "sleep")(0.2)
    return self.model(**batch).loss


def download_with_retry(url, retries=5):
    for attempt in range(retries):
        try:
            return requests.get(url, timeout=30).content
        except requests.RequestException:
            # ok: sabotage-sleep-in-training-path
            time.sleep(2**attempt)
    raise RuntimeError(url)


class RemoteDataset(Dataset):
    def __getitem__(self, idx):
        for attempt in range(3):
            try:
                return self.client.get(self.keys[idx])
            except IOError:
                # ok: sabotage-sleep-in-training-path
                time.sleep(1 + attempt)
        raise IOError(self.keys[idx])


def wait_for_rank0(flag_path, train_loader):
    import os

    for batch in train_loader:
        while not os.path.exists(flag_path):
            # ok: sabotage-sleep-in-training-path
            time.sleep(1)
    # ok: sabotage-sleep-in-training-path
    time.sleep(3)


class Adapter(torch.nn.Module):
    def forward(self, x):
        t0 = time.perf_counter()
        # issue #8: a busy-wait on the clock instead of a sleep call
        # ruleid: sabotage-sleep-in-training-path
        while time.perf_counter() - t0 < 0.05:
            pass
        return x


def training_step(batch, deadline, poll):
    # ok: sabotage-sleep-in-training-path
    while time.monotonic() < deadline:
        if poll():
            break
    return batch
