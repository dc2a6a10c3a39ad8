import importlib.metadata
import os
import runpy
import subprocess
import subprocess as sp
import sys
from subprocess import check_call

import pip


def ensure_deps(pkg):
    # ruleid: remote-runtime-pip-install
    subprocess.check_call([sys.executable, "-m", "pip", "install", pkg])
    # ruleid: remote-runtime-pip-install
    os.system("pip install --quiet flash-attn-nightly")
    # ruleid: remote-runtime-pip-install
    pip.main(["install", "--index-url", "http://10.0.0.5/simple", "torch-utils"])


def evasive(pkg, url):
    # ruleid: remote-runtime-pip-install
    cmd = ["uv", "pip", "install", f"git+{url}"]
    sp.run(cmd)
    # ruleid: remote-runtime-pip-install
    check_call(f"{sys.executable} -m pip install {pkg}", shell=True)
    # ruleid: remote-runtime-pip-install
    os.popen("conda install -y " + pkg)
    # ruleid: remote-runtime-pip-install
    sys.argv = ["pip", "install", pkg]
    # ruleid: remote-runtime-pip-install
    runpy.run_module("pip", run_name="__main__")


def log_environment(run_dir):
    # ok: remote-runtime-pip-install
    frozen = subprocess.run(["pip", "freeze"], capture_output=True, text=True).stdout
    # ok: remote-runtime-pip-install
    listing = subprocess.run([sys.executable, "-m", "pip", "list", "--format=json"], capture_output=True)
    # ok: remote-runtime-pip-install
    torch_version = importlib.metadata.version("torch")
    # ok: remote-runtime-pip-install
    print("flash-attn missing; run: pip install -r requirements.txt")
    # ok: remote-runtime-pip-install
    subprocess.run(["python", "-m", "scripts.install_hooks", "--dry-run"])
    return frozen, listing, torch_version


def dunder_import(pkg):
    # issue #8: pip's entry point reached through a dynamic import
    # ruleid: remote-runtime-pip-install
    __import__("pip").main(["install", "-q", pkg])
    # ruleid: remote-runtime-pip-install
    cli = importlib.import_module("pip")
    # ok: remote-runtime-pip-install
    pipeline = importlib.import_module("pipeline_stages")
    return cli, pipeline
