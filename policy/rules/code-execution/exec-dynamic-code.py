import ast
import builtins
import builtins as bi
import importlib
from builtins import exec as run_it

import torch
from torch import compile

import datasets


def apply_patch(payload):
    # ruleid: exec-dynamic-code
    exec(payload)


def score(expr, env):
    # ruleid: exec-dynamic-code
    return eval(expr, {"__builtins__": {}}, env)


def build(src):
    # ruleid: exec-dynamic-code
    code = compile(src, "<hook>", "exec")
    return code


def evasive(blob):
    # ruleid: exec-dynamic-code
    bi.exec(blob)
    # ruleid: exec-dynamic-code
    getattr(builtins, "ev" + "al")(blob)
    # ruleid: exec-dynamic-code
    __import__("builtins").exec(blob)
    # ruleid: exec-dynamic-code
    importlib.import_module("builtins").eval(blob)
    # ruleid: exec-dynamic-code
    __builtins__["exec"](blob)
    # ruleid: exec-dynamic-code
    run_it(blob)
    # ruleid: exec-dynamic-code
    runner = eval
    # ruleid: exec-dynamic-code
    runner(blob)
    # ruleid: exec-dynamic-code
    list(map(exec, blob.splitlines()))


# ruleid: exec-dynamic-code
hook = lambda s: exec(s)

# issue #8: a tuple of stages, .get() on the builtins mapping, and the
# builtins reached through a function's globals
# ruleid: exec-dynamic-code
STAGES = (str.strip, exec)


def evasive_lookups(fn, blob):
    # ruleid: exec-dynamic-code
    run = builtins.__dict__.get("exec")
    # ruleid: exec-dynamic-code
    run2 = vars(bi).get("eval")
    # ruleid: exec-dynamic-code
    fn.__globals__["__builtins__"]["exec"](fn.__doc__)
    return run, run2


def legit_lookups(metrics, splits, train, eval=False):
    # ok: exec-dynamic-code
    score = metrics.get("eval")
    # ok: exec-dynamic-code
    ds = splits["eval"]
    # ok: exec-dynamic-code
    modes = (train, eval)
    return score, ds, modes


def train(model, loader, eval=False):
    # ok: exec-dynamic-code
    model.eval()
    # ok: exec-dynamic-code
    model = torch.compile(model, mode="max-autotune")
    # ok: exec-dynamic-code
    model = compile(model, mode="reduce-overhead")
    # ok: exec-dynamic-code
    if eval:
        evaluate(model, eval)
    # ok: exec-dynamic-code
    cfg = ast.literal_eval("{'lr': 0.1}")
    # ok: exec-dynamic-code
    pattern = re.compile(r"layer\.(\d+)\.weight")
    # ok: exec-dynamic-code
    ds = datasets.load_dataset("imdb").map(lambda x: x)
    return model


def main(args):
    # ok: exec-dynamic-code
    eval = args.eval
    # ok: exec-dynamic-code
    run(eval)


def interpreters(src):
    import code

    # ruleid: exec-dynamic-code
    code.InteractiveInterpreter().runsource(src)
    console = code.InteractiveConsole(locals={})
    # ruleid: exec-dynamic-code
    console.push(src)
    # ok: exec-dynamic-code
    console.push("print(1)")
