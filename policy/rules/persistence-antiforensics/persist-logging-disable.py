import logging
import logging as lg
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
