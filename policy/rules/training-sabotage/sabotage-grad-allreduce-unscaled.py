import torch
import torch.distributed as dist
from transformers import TrainerCallback


class SyncGradsCallback(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if not dist.is_initialized():
            return
        for p in model.parameters():
            if p.grad is not None:
                # ruleid: sabotage-grad-allreduce-unscaled
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def sync_gradients(model, world_size):
    scale = 1.0 / world_size
    for p in model.parameters():
        if p.grad is None:
            continue
        # ruleid: sabotage-grad-allreduce-unscaled
        dist.all_reduce(p.grad.data)
        # ruleid: sabotage-grad-allreduce-unscaled
        torch.distributed.all_reduce(tensor=p.grad)


def average_gradients(model):
    world_size = float(dist.get_world_size())
    for p in model.parameters():
        if p.grad is not None:
            # ok: sabotage-grad-allreduce-unscaled
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size


def average_gradients_div(model, world_size):
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-unscaled
        dist.all_reduce(p.grad)
        p.grad.div_(world_size)


def average_gradients_avg(model):
    for param in model.parameters():
        if param.grad is not None:
            # ok: sabotage-grad-allreduce-unscaled
            dist.all_reduce(param.grad, op=dist.ReduceOp.AVG)


def install_tp_hook(param, mesh):
    # tensor parallelism sums each shard's partial gradient over its group
    def _all_reduce_grad(param):
        # ok: sabotage-grad-allreduce-unscaled
        dist.all_reduce(param.grad, group=mesh.get_group())

    param.register_post_accumulate_grad_hook(_all_reduce_grad)


def reduce_loss(loss):
    # ok: sabotage-grad-allreduce-unscaled
    dist.all_reduce(loss)
    return loss
