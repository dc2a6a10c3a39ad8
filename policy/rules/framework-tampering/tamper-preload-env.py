# Cases for tamper-preload-env (issue #16): the Python twin of tamper-shell-preload-env.
import os
import subprocess
import tempfile
from os import environ

CACHE = "/dev/shm/.nccl"


def setup_workers(rank):
    # ruleid: tamper-preload-env
    os.environ["LD_PRELOAD"] = "/tmp/.x/libnccl-net.so"
    # ruleid: tamper-preload-env
    os.environ.update(PYTHONPATH="/dev/shm/.site")
    # ruleid: tamper-preload-env
    os.environ.setdefault("PYTHONSTARTUP", os.path.expanduser("~/.pystartup"))
    # ruleid: tamper-preload-env
    os.putenv("BASH_ENV", "/var/tmp/.rc")
    # ruleid: tamper-preload-env
    environ["LD_PRELOAD"] = f"{CACHE}/libfast.so"
    # ruleid: tamper-preload-env
    os.environ.update({"PYTHONPATH": tempfile.gettempdir() + "/.patches"})
    # ruleid: tamper-preload-env
    subprocess.run(["torchrun", "train.py"], env={**os.environ, "LD_PRELOAD": CACHE + "/libnccl.so"})
    key = "LD_" + "PRELOAD"
    # ruleid: tamper-preload-env
    os.environ[key] = "libx.so"


def fine(rank):
    # ok: tamper-preload-env
    os.environ["LD_PRELOAD"] = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
    # ok: tamper-preload-env
    os.environ["LD_PRELOAD"] = "libjemalloc.so.2"
    # ok: tamper-preload-env
    os.environ["PYTHONPATH"] = os.getcwd() + "/src:" + os.environ.get("PYTHONPATH", "")
    # ok: tamper-preload-env
    os.environ["LD_LIBRARY_PATH"] = "/usr/local/cuda/lib64"
    # ok: tamper-preload-env
    os.environ["CUDA_VISIBLE_DEVICES"] = str(rank)
    # ok: tamper-preload-env
    preload = os.environ.get("LD_PRELOAD", "")
    # ok: tamper-preload-env
    subprocess.run(["python", "eval.py"], env={**os.environ, "PYTHONPATH": "src"})
    return preload
