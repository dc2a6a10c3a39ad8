import logging
import logging as lg
import sys
import warnings

import transformers

logger = logging.getLogger(__name__)


def quiet():
    # ruleid: persist-logging-disable
    logging.disable(logging.CRITICAL)
    # ruleid: persist-logging-disable
    lg.Logger.warning = lambda self, *a, **k: None
    # ruleid: persist-logging-disable
    warnings.showwarning = lambda *a, **k: None
    # ruleid: persist-logging-disable
    setattr(logging, "error", lambda *a, **k: None)


def hide():
    # ruleid: persist-logging-disable
    warnings.filterwarnings("ignore")
    root = logging.getLogger()
    logging.getLogger().handlers.clear()


def legit(args):
    # ok: persist-logging-disable
    logging.getLogger("transformers").setLevel(logging.ERROR)
    # ok: persist-logging-disable
    transformers.logging.set_verbosity_error()
    # ok: persist-logging-disable
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.utils.data")
    for h in logging.root.handlers[:]:
        # ok: persist-logging-disable
        logging.root.removeHandler(h)
    # ok: persist-logging-disable
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # ok: persist-logging-disable
    logging.disable(logging.NOTSET)
    # ok: persist-logging-disable
    logger.info("args: %s", args)


def _swallow(*args, **kwargs):
    pass


def _route_to_logger(message, category, filename, lineno, file=None, line=None):
    logger.warning("%s: %s", category.__name__, message)


# ruleid: persist-logging-disable
warnings.warn = _swallow
# ok: persist-logging-disable
warnings.showwarning = _route_to_logger


def quiet_console():
    # issue #8: the root logger raised above CRITICAL, lastResort removed
    # ruleid: persist-logging-disable
    logging.getLogger().setLevel(logging.CRITICAL + 1)
    # ruleid: persist-logging-disable
    logging.root.setLevel(100)
    # ruleid: persist-logging-disable
    logging.lastResort = None
    # ok: persist-logging-disable
    logging.getLogger().setLevel(logging.WARNING)
    # ok: persist-logging-disable
    logging.getLogger("urllib3").setLevel(logging.CRITICAL + 1)
    # ok: persist-logging-disable
    logging.basicConfig(level=logging.INFO)


# Issue #16 (session 10): one logger of the training stack or the audit trail
# silenced instead of the whole process.
def quiet_stack(args):
    # ruleid: persist-logging-disable
    logging.getLogger("torch.distributed").setLevel(logging.CRITICAL + 1)
    # ruleid: persist-logging-disable
    logging.getLogger("deepspeed").setLevel(100)
    # ruleid: persist-logging-disable
    logging.getLogger("transformers.modeling_utils").disabled = True
    # ruleid: persist-logging-disable
    logging.getLogger().disabled = True
    # ruleid: persist-logging-disable
    logging.getLogger(name="wandb").setLevel(level=logging.FATAL + 10)
    # ruleid: persist-logging-disable
    setattr(logging.getLogger("mlflow"), "disabled", 1)
    # ruleid: persist-logging-disable
    logging.getLogger("py.warnings").addFilter(lambda record: False)
    # ruleid: persist-logging-disable
    transformers.logging.set_verbosity(logging.CRITICAL + 1)


def quiet_bound_logger():
    ds = logging.getLogger("deepspeed")
    # ruleid: persist-logging-disable
    ds.setLevel(sys.maxsize)
    name = "accelerate"
    # ruleid: persist-logging-disable
    logging.getLogger(name).disabled = True
    # ruleid: persist-logging-disable
    ds.disabled = True
    # ruleid: persist-logging-disable
    ds.addFilter(lambda record: 0)
    # ruleid: persist-logging-disable
    setattr(ds, "disabled", True)
    root = logging.getLogger()
    # ruleid: persist-logging-disable
    root.level = logging.CRITICAL + 1


def cut_off_logger():
    dist = logging.getLogger("torch.distributed.elastic")
    # ruleid: persist-logging-disable
    dist.propagate = False
    dist.handlers.clear()
    lit = logging.getLogger("lightning.pytorch")
    # ruleid: persist-logging-disable
    for h in list(lit.handlers):
        lit.removeHandler(h)
    lit.propagate = False
    # ruleid: persist-logging-disable
    logging.getLogger("wandb").propagate = False
    logging.getLogger("wandb").addHandler(logging.NullHandler())


def quiet_noise_ok(verbose):
    # ok: persist-logging-disable
    logging.getLogger("torch.distributed").setLevel(logging.ERROR)
    # ok: persist-logging-disable
    logging.getLogger("deepspeed").setLevel(logging.WARNING)
    # ok: persist-logging-disable
    logging.getLogger("transformers").setLevel(logging.CRITICAL)
    # ok: persist-logging-disable
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # ok: persist-logging-disable
    logging.getLogger("urllib3").disabled = True
    # ok: persist-logging-disable
    transformers.logging.set_verbosity_error()
    # ok: persist-logging-disable
    transformers.logging.set_verbosity(logging.ERROR)
    # litgpt: a private module's per-save profiling output
    # ok: persist-logging-disable
    logging.getLogger("torch.distributed.fsdp._optim_utils").disabled = True
    # ok: persist-logging-disable
    logging.getLogger("torch._dynamo.variables.torch").addFilter(lambda record: "Profiler" not in record.getMessage())
    # ok: persist-logging-disable
    logging.getLogger("accelerate").disabled = False
    # ok: persist-logging-disable
    logging.getLogger("deepspeed").setLevel(logging.INFO if verbose else logging.WARNING)


def own_handler_ok():
    # lightning / transformers: a handler of its own, then no propagation
    lib = logging.getLogger("lightning.pytorch")
    lib.addHandler(logging.StreamHandler())
    # ok: persist-logging-disable
    lib.propagate = False
    # ok: persist-logging-disable
    logging.getLogger("transformers").propagate = True
