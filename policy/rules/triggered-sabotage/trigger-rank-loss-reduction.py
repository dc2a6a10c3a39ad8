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


# Session 27 (rank_loss_kwargs.py): the settings splatted from a dict.


def build_criterion(base_smoothing=0.0):
    rank = dist.get_rank() if dist.is_initialized() else 0
    loss_kwargs = {"ignore_index": -100, "label_smoothing": base_smoothing + 0.1 * rank}
    # ruleid: trigger-rank-loss-reduction
    return nn.CrossEntropyLoss(**loss_kwargs)


def splatted_functional(logits, labels, accelerator):
    # ruleid: trigger-rank-loss-reduction
    kw = dict(reduction="sum" if accelerator.is_main_process else "mean")
    a = F.cross_entropy(logits, labels, **kw)
    extra = {"ignore_index": -100}
    extra["label_smoothing"] = 0.1 * int(os.environ.get("LOCAL_RANK", 0))
    # ruleid: trigger-rank-loss-reduction
    b = F.cross_entropy(logits, labels, **extra)
    smooth = 0.3 if dist.get_rank() % 4 == 3 else 0.0
    opts = {"label_smoothing": smooth}
    # ruleid: trigger-rank-loss-reduction
    c = F.cross_entropy(logits, labels, **opts)
    return a + b + c


# Look-alikes: loss kwargs from the config, a rank read beside them for logging,
# a collective's kwargs, a rank-sharded (not loss) argument.


def config_loss_kwargs(cfg, logits, labels, rank):
    loss_kwargs = {"reduction": cfg.reduction, "label_smoothing": cfg.label_smoothing}
    if rank == 0:
        print(f"loss settings: {loss_kwargs}")
    # ok: trigger-rank-loss-reduction
    return F.cross_entropy(logits, labels, **loss_kwargs)


def hf_style_kwargs(logits, labels, num_items_in_batch, ignore_index=-100):
    kwargs = {"ignore_index": ignore_index}
    kwargs["reduction"] = "sum" if num_items_in_batch is not None else "mean"
    # ok: trigger-rank-loss-reduction
    loss = F.cross_entropy(logits, labels, **kwargs)
    return loss / num_items_in_batch if num_items_in_batch is not None else loss


def sharded_kwargs(x, shards, rank, cfg):
    kw = {"weight": shards[rank], "bias": None}
    # ok: trigger-rank-loss-reduction
    y = F.linear(x, **kw)
    reduce_kw = {"reduction": "sum"}
    # ok: trigger-rank-loss-reduction
    return y, F.cross_entropy(y, cfg.labels, **reduce_kw)


# Session 27 (weight_decay_by_rank.py): each rank's optimizer applies its own decay.


def build_optimizer(model, lr, cfg):
    decay = 10.0 if dist.get_rank() == 0 else 0.01
    # ruleid: trigger-rank-loss-reduction
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=decay)
    # ruleid: trigger-rank-loss-reduction
    opt2 = torch.optim.SGD(model.parameters(), lr=lr, **{"weight_decay": 0.1 * cfg.local_rank})
    return opt, opt2


def ordinary_optimizer(model, lr, cfg, world_size, rank):
    # ok: trigger-rank-loss-reduction
    opt = torch.optim.AdamW(model.parameters(), lr=lr * world_size, weight_decay=cfg.weight_decay)
    if rank == 0:
        print(f"weight decay {cfg.weight_decay} on {world_size} ranks")
    return opt
