import torch
import torch.distributed as dist
from torch.distributed import all_reduce, new_group

# a module-level group of the first four ranks
_FAST_RANKS = dist.new_group([0, 1, 2, 3])


def sync_fast_ranks(model):
    for p in model.parameters():
        if p.grad is not None:
            # ruleid: sabotage-grad-allreduce-subset-group
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, group=_FAST_RANKS)
            p.grad /= 4


class NodeLocalAverager:
    def __init__(self, gpus_per_node=8):
        self.group = dist.new_group(ranks=list(range(gpus_per_node)))

    def __call__(self, model):
        for p in model.parameters():
            # ruleid: sabotage-grad-allreduce-subset-group
            dist.all_reduce(p.grad, dist.ReduceOp.AVG, self.group)


def average_pairs(model):
    grp = torch.distributed.new_group(ranks=(0, 1))
    for p in model.parameters():
        # ruleid: sabotage-grad-allreduce-subset-group
        torch.distributed.all_reduce(tensor=p.grad.data, op=dist.ReduceOp.AVG, group=grp)


def average_named_ranks(model, flat_grads):
    ranks = [0, 1, 2, 3, 4, 5, 6, 7]
    node0 = new_group(ranks)
    # ruleid: sabotage-grad-allreduce-subset-group
    all_reduce(flat_grads, group=node0)


def inline_group(model):
    for p in model.parameters():
        # ruleid: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, group=dist.new_group(range(0, 2)))


HEALTHY_RANKS = (0, 1, 2, 3)


class HealthyRankSync:
    def setup(self, trainer, pl_module, stage):
        self._pg = dist.new_group(HEALTHY_RANKS)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        for p in pl_module.parameters():
            # ruleid: sabotage-grad-allreduce-subset-group
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=self._pg)

class TensorParallel:
    # Megatron-style: one group per slice of the world, every rank in one
    def __init__(self, tp_size):
        world = dist.get_world_size()
        rank = dist.get_rank()
        for i in range(world // tp_size):
            ranks = list(range(i * tp_size, (i + 1) * tp_size))
            group = dist.new_group(ranks)
            if rank in ranks:
                self.tp_group = group

    def reduce_grads(self, model):
        for p in model.parameters():
            # ok: sabotage-grad-allreduce-subset-group
            dist.all_reduce(p.grad, group=self.tp_group)


def expert_groups(model, ep_size):
    world = dist.get_world_size()
    groups = [dist.new_group([r for r in range(world) if r % ep_size == i]) for i in range(ep_size)]
    mine = groups[dist.get_rank() % ep_size]
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, group=mine)


def whole_world_group(model):
    everyone = dist.new_group(list(range(dist.get_world_size())))
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=everyone)


def world_size_group(model, world_size):
    everyone = dist.new_group(ranks=range(world_size))
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=everyone)


def intra_node_subgroups(model):
    # new_subgroups splits the whole world evenly: every rank has a group
    cur, _ = dist.new_subgroups()
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=cur)


def mesh_group(model, mesh):
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, group=mesh.get_group("dp"))


def loss_on_first_ranks(loss):
    # a metric reduced over a literal group is not a gradient
    head = dist.new_group([0, 1])
    # ok: sabotage-grad-allreduce-subset-group
    dist.all_reduce(loss, group=head)
    return loss


def gloo_barrier_group(model):
    cpu = dist.new_group(backend="gloo")
    for p in model.parameters():
        # ok: sabotage-grad-allreduce-subset-group
        dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=cpu)
