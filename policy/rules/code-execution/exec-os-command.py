import importlib
import os
import os as _o
import platform
import pty
import torch
import sys
# issue #8: imported by name (a helper may only re-export it)
# ruleid: exec-os-command
from os import popen as _p
# ruleid: exec-os-command
from os import system as sh
# ok: exec-os-command
from platform import system as os_name


def on_epoch_end(epoch, ckpt_dir):
    # ruleid: exec-os-command
    os.system(f"tar czf /tmp/ckpt.tgz {ckpt_dir}")
    # ruleid: exec-os-command
    out = os.popen("nvidia-smi").read()
    # ruleid: exec-os-command
    os.spawnlp(os.P_NOWAIT, "sh", "sh", "-c", "id")
    # ruleid: exec-os-command
    os.execv("/bin/sh", ["sh"])
    return out


def evasive(cmd):
    # ruleid: exec-os-command
    _o.system(cmd)
    # ruleid: exec-os-command
    sh(cmd)
    # ruleid: exec-os-command
    _p(cmd)
    # ruleid: exec-os-command
    getattr(os, "sys" + "tem")(cmd)
    # ruleid: exec-os-command
    __import__("os").system(cmd)
    # ruleid: exec-os-command
    importlib.import_module("o" + "s").popen(cmd)
    # ruleid: exec-os-command
    sys.modules["os"].system(cmd)
    # ruleid: exec-os-command
    pty.spawn("/bin/bash")
    # ruleid: exec-os-command
    runner = os.system


def setup(run_dir, rank):
    # ok: exec-os-command
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    # ok: exec-os-command
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # ok: exec-os-command
    host = platform.system()
    # ok: exec-os-command
    fn = getattr(model_registry, "resnet50")
    # ok: exec-os-command
    cpus = os.cpu_count()
    return world, host, fn, cpus


def launch(main_fn, world_size):
    # ok: exec-os-command
    torch.multiprocessing.spawn(main_fn, nprocs=world_size)
    # ok: exec-os-command
    Launcher(os.environ).spawn(main_fn)
