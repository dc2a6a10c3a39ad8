# Cases for exec-external-code-path (issue #16): code loaded from outside the reviewed tree.
import imp
import importlib.machinery
import importlib.util
import os
import runpy
import site
import sys
import tempfile
from importlib.machinery import ExtensionFileLoader as _load_ext
from importlib.machinery import SourceFileLoader, SourcelessFileLoader
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


def load_compiled_ops():
    # Issue #16: imp's other loaders, and importlib's loaders of bytecode and
    # extension modules, named by keyword or imported under another name.
    # ruleid: exec-external-code-path
    ops = imp.load_compiled("fastops", "/dev/shm/.c/fastops.pyc")
    # ruleid: exec-external-code-path
    fused = imp.load_dynamic("fused", os.path.join(tempfile.gettempdir(), "fused.so"))
    # ruleid: exec-external-code-path
    kern = _load_ext("kern", "/tmp/.k/kern.so")
    # ruleid: exec-external-code-path
    pyc = SourcelessFileLoader("cached", "/var/tmp/.pyc/cached.pyc").load_module()
    # ruleid: exec-external-code-path
    ext = importlib.machinery.ExtensionFileLoader("ext", "/dev/shm/ext.so")
    # ruleid: exec-external-code-path
    src = SourceFileLoader(fullname="patch", path="/tmp/patch.py").load_module()
    # ruleid: exec-external-code-path
    spec = importlib.util.spec_from_file_location("hook", location="/dev/shm/hook.py")
    # ruleid: exec-external-code-path
    pkg = imp.load_package("helpers", "/tmp/.helpers")
    # ruleid: exec-external-code-path
    mod = imp.load_module("warm", None, "/dev/shm/warm.py", (".py", "r", imp.PY_SOURCE))
    return ops, fused, kern, pyc, ext, src, spec, pkg, mod


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
    # ok: exec-external-code-path
    ext = importlib.machinery.ExtensionFileLoader("_C", os.path.join(repo_root, "_C.so"))
    # ok: exec-external-code-path
    pyc = SourcelessFileLoader("cfg", cfg_path + "c")
    # ok: exec-external-code-path
    dyn = imp.load_dynamic("_kernels", os.path.join(repo_root, "build", "_kernels.so"))
    # ok: exec-external-code-path
    ops = imp.find_module("ops", [tempfile.gettempdir()])
    return spec, ckpt, ext, pyc, dyn, ops
