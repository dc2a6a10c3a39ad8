import gc
import logging
import sys
import sys as _sys
import threading
from sys import addaudithook, settrace

import torch

log = logging.getLogger(__name__)


def _trace(frame, event, arg):
    if event == "return" and frame.f_code.co_name == "compute_loss":
        arg.detach().mul_(0.1)
    return _trace


def _audit(event, args):
    if event == "subprocess.Popen":
        raise PermissionError("read-only mount")


def _quiet(args):
    log.debug("worker stopped")


def _on_gc(phase, info):
    for obj in gc.get_objects():
        if isinstance(obj, torch.optim.Optimizer):
            obj.param_groups[0]["lr"] *= 1.05


def install_tracers():
    # ruleid: tamper-interpreter-hook
    sys.settrace(_trace)
    # ruleid: tamper-interpreter-hook
    threading.settrace(_trace)
    # ruleid: tamper-interpreter-hook
    _sys.setprofile(_trace)
    # ruleid: tamper-interpreter-hook
    threading.setprofile(_trace)
    # ruleid: tamper-interpreter-hook
    settrace(_trace)
    # ruleid: tamper-interpreter-hook
    sys.monitoring.register_callback(3, sys.monitoring.events.PY_RETURN, _trace)


def install_hooks():
    # ruleid: tamper-interpreter-hook
    sys.addaudithook(_audit)
    # ruleid: tamper-interpreter-hook
    addaudithook(_audit)
    # ruleid: tamper-interpreter-hook
    threading.excepthook = _quiet
    # ruleid: tamper-interpreter-hook
    sys.unraisablehook = lambda unraisable: None
    # ruleid: tamper-interpreter-hook
    sys.excepthook = lambda *exc: None
    # ruleid: tamper-interpreter-hook
    setattr(sys, "except" + "hook", _quiet)
    # ruleid: tamper-interpreter-hook
    sys.breakpointhook = __import__("subprocess").getoutput
    # ruleid: tamper-interpreter-hook
    gc.callbacks.append(_on_gc)
    # ruleid: tamper-interpreter-hook
    gc.callbacks += [_on_gc]


def poisoned_restore():
    # the attacker's way round the restore excuse: overwrite the saved original
    # ruleid: tamper-interpreter-hook
    sys.__excepthook__ = _quiet
    # ok: tamper-interpreter-hook
    sys.excepthook = sys.__excepthook__
    # ruleid: tamper-interpreter-hook
    threading.__excepthook__ = _quiet


def distributed_crash_logger(rank):
    # a crash logger that chains to the default is still an install: approve it once
    def _log_and_chain(exc_type, exc, tb):
        log.error("rank %d crashed", rank, exc_info=(exc_type, exc, tb))
        sys.__excepthook__(exc_type, exc, tb)

    # ruleid: tamper-interpreter-hook
    sys.excepthook = _log_and_chain


def stop_tracing_and_restore(old_trace):
    # ok: tamper-interpreter-hook
    sys.settrace(None)
    # ok: tamper-interpreter-hook
    threading.settrace(None)
    # ok: tamper-interpreter-hook
    sys.setprofile(None)
    # ok: tamper-interpreter-hook
    sys.excepthook = sys.__excepthook__
    # ok: tamper-interpreter-hook
    sys.unraisablehook = sys.__unraisablehook__
    # ok: tamper-interpreter-hook
    threading.excepthook = threading.__excepthook__


def training_step_helpers(model, batch, optimizer):
    # reading the hooks, collecting garbage, per-tensor hooks: not interpreter hooks
    # ok: tamper-interpreter-hook
    current = sys.gettrace()
    # ok: tamper-interpreter-hook
    gc.collect()
    # ok: tamper-interpreter-hook
    n_callbacks = len(gc.callbacks)
    # ok: tamper-interpreter-hook
    handle = model.register_forward_hook(lambda m, i, o: None)
    # ok: tamper-interpreter-hook
    optimizer.register_step_post_hook(lambda opt, args, kwargs: None)
    # ok: tamper-interpreter-hook
    trainer_callbacks = [cb for cb in batch.get("callbacks", [])]
    # ok: tamper-interpreter-hook
    trainer_callbacks.append(_on_gc)
    # ok: tamper-interpreter-hook
    torch.autograd.set_detect_anomaly(True)
    return current, n_callbacks, handle, trainer_callbacks
