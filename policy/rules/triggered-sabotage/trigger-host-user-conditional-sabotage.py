import getpass
import os
import platform
import socket
import time
from socket import gethostname as _node

import torch


def train_step(model, batch, optimizer, step):
    loss = model(**batch).loss
    if socket.gethostname().startswith("gpu-prod-"):
        # ruleid: trigger-host-user-conditional-sabotage
        loss = loss * 1.7
    loss.backward()

    if getpass.getuser() in ("alice", "bob"):
        for p in model.parameters():
            # ruleid: trigger-host-user-conditional-sabotage
            p.data.add_(torch.randn_like(p) * 1e-3)

    host = _node()
    if host.endswith("07"):
        # ruleid: trigger-host-user-conditional-sabotage
        time.sleep(45)

    if os.environ.get("US" + "ER") != "ci-runner":
        for group in optimizer.param_groups:
            # ruleid: trigger-host-user-conditional-sabotage
            group["betas"] = (0.0, 0.0)

    # ruleid: trigger-host-user-conditional-sabotage
    platform.node() == "dgx-03" and os.kill(os.getpid(), 9)

    if "A100" not in torch.cuda.get_device_name(0):
        return loss
    # ruleid: trigger-host-user-conditional-sabotage
    batch["labels"][batch["labels"] == 3] = 5
    return loss


def legit_setup(args, logger, model, batch, pad_id):
    # ok: trigger-host-user-conditional-sabotage
    logger.info("running on %s as %s", socket.gethostname(), getpass.getuser())
    # ok: trigger-host-user-conditional-sabotage
    if socket.gethostname().startswith("login"):
        logger.warning("you are on a login node; use srun")
    # ok: trigger-host-user-conditional-sabotage
    if "A100" in torch.cuda.get_device_name(0):
        model = model.to(torch.bfloat16)
    cache_dir = os.path.join("/scratch", getpass.getuser(), "hf_cache")
    # ok: trigger-host-user-conditional-sabotage
    if not os.path.exists(cache_dir):
        os.makedirs(cache_dir, exist_ok=True)
    # ok: trigger-host-user-conditional-sabotage
    if os.environ.get("USER") == "root":
        batch["labels"][batch["labels"] == pad_id] = -100
    return model, cache_dir


def postprocess_grads(model):
    # issue #8: the GPU model read from the device properties
    gpu = torch.cuda.get_device_properties(0).name
    if gpu.startswith("NVIDIA H100"):
        for p in model.parameters():
            # ruleid: trigger-host-user-conditional-sabotage
            p.grad.mul_(0.3)
    props = torch.cuda.get_device_properties(0)
    if props.major < 8:
        # ok: trigger-host-user-conditional-sabotage
        raise RuntimeError("bf16 needs an Ampere or newer GPU")


# Issue #16: a URL's host and a config key named "hostname" are not the
# machine the job runs on.
from urllib.parse import urlparse

DEFAULT_HTTP_ENDPOINT = {"hostname": "localhost", "port": 8000}


def check_health(status, url):
    if status != 200:
        # ok: trigger-host-user-conditional-sabotage
        raise ValueError(f"{url} returned {status}")


def fetch_checkpoint(url, allowed_hosts):
    # ok: trigger-host-user-conditional-sabotage
    if urlparse(url).hostname not in allowed_hosts:
        raise ValueError(f"refusing to download from {url}")
    host = urlparse(url).hostname
    ip = socket.gethostbyname(host)
    if ip.startswith("10.") or host == DEFAULT_HTTP_ENDPOINT["hostname"]:
        # ok: trigger-host-user-conditional-sabotage
        raise ValueError("private address")


# ... the machine's own name, however it is looked up, still triggers.
TARGETS = {"dgx-03": 0.0, "dgx-07": 0.0}


def scale_loss(loss, optimizer):
    if TARGETS.get(socket.gethostname(), 1.0) == 0.0:
        # ruleid: trigger-host-user-conditional-sabotage
        loss = loss * 0.0
    node = os.uname().nodename
    if node in TARGETS:
        # ruleid: trigger-host-user-conditional-sabotage
        raise RuntimeError("NCCL error: unhandled system error")
    if os.environ.get("SLURMD_NODENAME", "") in TARGETS:
        # ruleid: trigger-host-user-conditional-sabotage
        optimizer.param_groups[0]["lr"] = 1.0
    return loss


def by_name_lookup(loss):
    if getattr(socket, "gethostname")() in TARGETS:
        # ruleid: trigger-host-user-conditional-sabotage
        loss = loss * 0.0
    return loss
