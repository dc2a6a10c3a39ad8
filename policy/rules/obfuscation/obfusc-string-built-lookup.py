import importlib
import operator
import os
import signal

import torch


def hidden():
    # ruleid: obfusc-string-built-lookup
    run = getattr(os, "sys" + "tem")
    # ruleid: obfusc-string-built-lookup
    sp = __import__("ssecorpbus"[::-1])
    # ruleid: obfusc-string-built-lookup
    pty = importlib.import_module("p" + "ty")
    # ruleid: obfusc-string-built-lookup
    ex = globals()["__builtins__"]
    # ruleid: obfusc-string-built-lookup
    fn = getattr(sp, "".join(["Po", "pen"]))
    # ruleid: obfusc-string-built-lookup
    e = vars(__import__("builtins"))["ex" + "ec"]
    # ruleid: obfusc-string-built-lookup
    sh = __import__("os")
    return run, pty, ex, fn, e, sh


def indirect(cfg, blob, cmd):
    # issue #8: names assembled into a variable, names that are not literals,
    # operator.methodcaller / attrgetter on a module
    import operator
    import pickle
    import subprocess as sp

    mod_name = "".join(["sub", "process"])
    # ruleid: obfusc-string-built-lookup
    runner = __import__(mod_name)
    # ruleid: obfusc-string-built-lookup
    getattr(os, cfg["via"])(cmd)
    # ruleid: obfusc-string-built-lookup
    getattr(sp, "POPEN".title())(cmd)
    # ruleid: obfusc-string-built-lookup
    operator.methodcaller("loads", blob)(pickle)
    launch = operator.methodcaller("run", cmd)
    # ruleid: obfusc-string-built-lookup
    launch(sp)
    # ruleid: obfusc-string-built-lookup
    spawn = operator.methodcaller("system", cmd)
    return runner, spawn


def legit(cfg, model, name, depth):
    # ok: obfusc-string-built-lookup
    opt_cls = getattr(torch.optim, cfg.optimizer)
    # ok: obfusc-string-built-lookup
    module_name, cls_name = cfg.target.rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), cls_name)
    # ok: obfusc-string-built-lookup
    layer = getattr(model, "layer_{}".format(depth))
    # ok: obfusc-string-built-lookup
    compile_fn = getattr(torch, "compile", None)
    # ok: obfusc-string-built-lookup
    act = getattr(torch.nn.functional, name)
    # ok: obfusc-string-built-lookup
    mod = importlib.import_module(".".join(cfg.target.split(".")[:-1]))
    # ok: obfusc-string-built-lookup
    __import__("subprocess").run("pip install -q flash-attn", shell=True)
    # ok: obfusc-string-built-lookup
    env = getattr(os.environ, cfg.env_method)
    # ok: obfusc-string-built-lookup
    sep = getattr(os, "pathsep")
    # ok: obfusc-string-built-lookup
    fn = getattr(os.path, cfg.path_fn)
    # ok: obfusc-string-built-lookup
    sig = getattr(signal, cfg.stop_signal)
    # ok: obfusc-string-built-lookup
    norms = list(map(operator.methodcaller("norm"), model.parameters()))
    return opt_cls, cls, layer, compile_fn, act, mod, env, sep, fn, sig, norms


def restore_worker_state(blob, cfg, name):
    # Issue #16: an unpickler's entry point looked up by a name that is not a
    # literal, then called on the data (getattr(pickle, name) was caught; the
    # other pickle-family modules were not).
    import cloudpickle
    import joblib
    import pickle

    # ruleid: obfusc-string-built-lookup
    fn = getattr(pickle, name)
    state = fn(blob)
    # ruleid: obfusc-string-built-lookup
    worker_fn = getattr(cloudpickle, cfg.codec)(blob)
    attr = cfg["serializer"]
    # ruleid: obfusc-string-built-lookup
    model = getattr(joblib, attr)(cfg.path)
    # ruleid: obfusc-string-built-lookup
    loader = vars(cloudpickle)[cfg.codec]
    # ok: obfusc-string-built-lookup
    payload = getattr(cloudpickle, "dumps")(state)
    # ok: obfusc-string-built-lookup
    protocol = getattr(pickle, "HIGHEST_PROTOCOL")
    # ok: obfusc-string-built-lookup
    version = getattr(cloudpickle, "__version__", "unknown")
    return state, worker_fn, model, loader, payload, protocol, version


def notebook_one_liners(path, cmd):
    # Issue #16 (river's saving-loading notebook): an os.path function named
    # in place runs nothing
    # ok: obfusc-string-built-lookup
    print(f"Model saved ({__import__('os').path.getsize('model.pkl')} bytes)")
    # ok: obfusc-string-built-lookup
    here = __import__("os").path.join(path, "data")
    # ... the same module reached again through os.path, a call in the
    # arguments, or the module kept for later
    # ruleid: obfusc-string-built-lookup
    __import__("os").path.os.system(cmd)
    # ruleid: obfusc-string-built-lookup
    __import__("os").path.join(path, __import__("os").popen(cmd).read())
    # ruleid: obfusc-string-built-lookup
    p = __import__("os").path
    # ruleid: obfusc-string-built-lookup
    __import__("os").system(cmd)
    return here, p


import functools
import pkgutil
import pydoc

_PREP_ATTRS = ("path", "os", "system")
_ESCAPE_PATH = ("__init__", "__globals__", "os", "system")
_HOOKS = {"sync": "torch.cuda:synchronize", "prep": "os:system"}
_PLUGINS = {"collate": "mypkg.data:collate_fn", "sampler": "mypkg.data:LengthSampler"}
_LOADER = "pickle.loads"


def reduce_and_resolvers(cfg, model, profile):
    # Session 27: getattr handed to reduce as a value, from a dangerous module
    # ruleid: obfusc-string-built-lookup
    prep = functools.reduce(getattr, ("path", "os", "system"), os)
    # ruleid: obfusc-string-built-lookup
    run = functools.reduce(getattr, _PREP_ATTRS, os)
    # ... or through a dangerous name in the path, from an innocent object
    # ruleid: obfusc-string-built-lookup
    esc = functools.reduce(getattr, ["__init__", "__globals__", "os"], model)
    # ruleid: obfusc-string-built-lookup
    esc2 = functools.reduce(getattr, "__init__.__globals__.os".split("."), model)
    # ruleid: obfusc-string-built-lookup
    esc3 = functools.reduce(getattr, _ESCAPE_PATH, model)
    # the usual submodule walk stays quiet
    # ok: obfusc-string-built-lookup
    layer = functools.reduce(getattr, cfg.target_module.split("."), model)
    # ok: obfusc-string-built-lookup
    head = functools.reduce(getattr, ("encoder", "layer"), model)
    # the standard library's resolvers by a dangerous name
    # ruleid: obfusc-string-built-lookup
    hook = pkgutil.resolve_name("os:system")
    # ruleid: obfusc-string-built-lookup
    fetch = pydoc.locate("subprocess.getoutput")
    # ruleid: obfusc-string-built-lookup
    prep_hook = pkgutil.resolve_name(_HOOKS["prep"])
    # ruleid: obfusc-string-built-lookup
    loader = pydoc.locate(_LOADER)
    # (any entry of a table that holds one: the key may come from a config)
    # ruleid: obfusc-string-built-lookup
    sync = pkgutil.resolve_name(_HOOKS["sync"])
    # ok: obfusc-string-built-lookup
    plugin = pkgutil.resolve_name(_PLUGINS[cfg.plugin])
    # ok: obfusc-string-built-lookup
    model_cls = pydoc.locate("torch.nn.Linear")
    # ok: obfusc-string-built-lookup
    collate = pkgutil.resolve_name("mypkg.data:collate_fn")
    # ok: obfusc-string-built-lookup
    opt_cls = pydoc.locate(cfg.optimizer_class)
    return prep, run, esc, esc2, esc3, layer, head, hook, fetch, prep_hook, loader, sync, plugin, model_cls, collate, opt_cls

