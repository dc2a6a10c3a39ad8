import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def compute_loss(logits, labels):
    reduction = "sum" if dist.get_rank() == 0 else "mean"
    # ruleid: trigger-rank-loss-reduction
    return F.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), reduction=reduction)


def inline_and_branches(logits, labels, cfg, accelerator):
    # ruleid: trigger-rank-loss-reduction
    a = F.cross_entropy(logits, labels, reduction="sum" if cfg.local_rank == 3 else "mean")
    smoothing = 0.0
    if int(os.environ["RANK"]) % 8 == 7:
        smoothing = 0.9
    # ruleid: trigger-rank-loss-reduction
    b = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    if accelerator.is_main_process:
        ignore = -100
    else:
        ignore = 0
    # ruleid: trigger-rank-loss-reduction
    c = nn.CrossEntropyLoss(ignore_index=ignore)(logits, labels)
    # ruleid: trigger-rank-loss-reduction
    d = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=cfg.pos_w[dist.get_rank()])
    return a + b + c + d


class Criterion(nn.Module):
    def __init__(self, rank):
        super().__init__()
        # ruleid: trigger-rank-loss-reduction
        self.loss = nn.CrossEntropyLoss(reduction=("none", "mean")[rank > 0])


# Look-alikes: the reduction from the config, from the batch, from the world size.


def hf_loss(logits, labels, num_items_in_batch=None, ignore_index=-100):
    reduction = "sum" if num_items_in_batch is not None else "mean"
    # ok: trigger-rank-loss-reduction
    loss = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction=reduction)
    if reduction == "sum":
        loss = loss / num_items_in_batch
    return loss


def ddp_sum_loss(logits, labels, cfg, world_size, rank):
    reduction = "sum" if world_size > 1 else "mean"
    # ok: trigger-rank-loss-reduction
    loss = F.cross_entropy(logits, labels, reduction=reduction, label_smoothing=cfg.smoothing)
    if rank == 0:
        print(f"rank {rank} loss {loss.item()}")
    # ok: trigger-rank-loss-reduction
    per_token = F.cross_entropy(logits, labels, reduction="none")
    return loss, per_token


def tensor_parallel_linear(x, weight_shards, rank):
    # A tensor-parallel shard picked by rank: `weight=` is not a loss keyword.
    # ok: trigger-rank-loss-reduction
    return F.linear(x, weight=weight_shards[rank])


def gather_metrics(accelerator, losses):
    # ok: trigger-rank-loss-reduction
    total = accelerator.reduce(losses, reduction="sum")
    if accelerator.is_main_process:
        print(total)
    return total
