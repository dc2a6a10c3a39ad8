import importlib
import os

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
    return opt_cls, cls, layer, compile_fn, act, mod
