# Cases for exec-external-code-path (issue #16): code loaded from outside the reviewed tree.
import importlib.util
import os
import runpy
import site
import sys
import tempfile
from importlib.machinery import SourceFileLoader
from pathlib import Path

import torch

PLUGIN = "/dev/shm/.plugins/fastops.py"


def load_hooks():
    # ruleid: exec-external-code-path
    runpy.run_path("/dev/shm/h.py")
    # ruleid: exec-external-code-path
    spec = importlib.util.spec_from_file_location("p", "/tmp/.cache/p.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # ruleid: exec-external-code-path
    sys.path.insert(0, "/dev/shm/.lib")
    # ruleid: exec-external-code-path
    site.addsitedir("/var/tmp/.pkgs")
    # ruleid: exec-external-code-path
    m = SourceFileLoader("fastops", PLUGIN).load_module()
    # ruleid: exec-external-code-path
    sys.path.append(os.path.join(tempfile.gettempdir(), "patches"))
    # ruleid: exec-external-code-path
    torch.ops.load_library(os.path.expanduser("~/.cache/.ops/libfused.so"))
    d = tempfile.mkdtemp()
    # ruleid: exec-external-code-path
    sys.path.insert(0, d)
    # ruleid: exec-external-code-path
    runpy.run_path(f"{os.environ.get('TMPDIR', '/tmp')}/warm.py")
    return mod, m


def fine(cfg_path, repo_root):
    # ok: exec-external-code-path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    # ok: exec-external-code-path
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    # ok: exec-external-code-path
    runpy.run_path("scripts/convert_checkpoint.py", run_name="__main__")
    # ok: exec-external-code-path
    spec = importlib.util.spec_from_file_location("cfg", cfg_path)
    # ok: exec-external-code-path
    sys.path.insert(0, os.path.join(repo_root, "third_party", "apex"))
    # ok: exec-external-code-path
    ckpt = os.path.join(tempfile.gettempdir(), "ckpt.pt")
    return spec, ckpt
