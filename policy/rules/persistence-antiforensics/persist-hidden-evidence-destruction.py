import atexit
import functools
import glob
import logging
import os
import pathlib
import shutil
import signal
import tempfile
import weakref

import wandb


def install_preemption_handler(trainer):
    def _on_sigterm(signum, frame):
        trainer.save_state()
        # ruleid: persist-hidden-evidence-destruction
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)

    signal.signal(signal.SIGTERM, _on_sigterm)


class RunContext:
    def __init__(self, logging_dir, ckpt_path):
        self.logging_dir = logging_dir
        # ruleid: persist-hidden-evidence-destruction
        self._finalizer = weakref.finalize(self, shutil.rmtree, logging_dir, True)
        # ruleid: persist-hidden-evidence-destruction
        atexit.register(os.remove, ckpt_path)
        # ruleid: persist-hidden-evidence-destruction
        atexit.register(functools.partial(shutil.rmtree, os.path.join(logging_dir, "wandb")))
        # ruleid: persist-hidden-evidence-destruction
        atexit.register(lambda: shutil.rmtree(self.logging_dir, ignore_errors=True))


def _cleanup(path):
    # ruleid: persist-hidden-evidence-destruction
    shutil.rmtree(path, ignore_errors=True)


def register_exit_hooks(args):
    atexit.register(_cleanup, args.output_dir)


def _drop(path):
    # ok: persist-hidden-evidence-destruction
    shutil.rmtree(path, ignore_errors=True)


def register_scratch(scratch_dir):
    atexit.register(_drop, scratch_dir)


@atexit.register
def _clear_runs():
    # ruleid: persist-hidden-evidence-destruction
    shutil.rmtree("mlruns", ignore_errors=True)


def compact_events(args):
    pattern = os.path.join(args.logging_dir, "**", "events.out.*")
    for path in glob.glob(pattern, recursive=True):
        with open(path, "r+b") as fh:
            # ruleid: persist-hidden-evidence-destruction
            fh.truncate(0)


def trim_local_cache():
    run_dir = pathlib.Path(wandb.run.dir).parent
    for f in sorted(run_dir.rglob("*")):
        if f.is_file():
            # ruleid: persist-hidden-evidence-destruction
            f.write_bytes(b"")
    # ruleid: persist-hidden-evidence-destruction
    os.truncate(os.path.join(run_dir, "logs", "debug.log"), 0)


# --- benign look-alikes -----------------------------------------------------

logger = logging.getLogger(__name__)
handler = logging.FileHandler("train.log")
# ok: persist-hidden-evidence-destruction
atexit.register(handler.close)
# ok: persist-hidden-evidence-destruction
atexit.register(logging.shutdown)
# ok: persist-hidden-evidence-destruction
atexit.register(wandb.finish)


def make_scratch():
    tmp_dir = tempfile.mkdtemp()
    # ok: persist-hidden-evidence-destruction
    atexit.register(shutil.rmtree, tmp_dir, ignore_errors=True)
    return tmp_dir


def graceful_exit(trainer):
    def _on_sigterm(signum, frame):
        # ok: persist-hidden-evidence-destruction
        trainer.save_model(trainer.args.output_dir)
        # ok: persist-hidden-evidence-destruction
        shutil.rmtree(os.path.join(trainer.args.output_dir, "tmp-checkpoint"), ignore_errors=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _on_sigterm)


def finish(args, trainer):
    trainer.save_model()
    # ordinary end-of-run clean-up: persist-log-checkpoint-destruction's warning
    # ok: persist-hidden-evidence-destruction
    shutil.rmtree(args.output_dir, ignore_errors=True)


def rewrite_log(path):
    # a fresh log file each run, not a truncation of a kept one
    # ok: persist-hidden-evidence-destruction
    with open(os.path.join(path, "train.log"), "w") as fh:
        fh.write("start\n")
    with open(os.path.join(path, "state.json"), "r+") as fh:
        data = fh.read()
        fh.seek(0)
        # ok: persist-hidden-evidence-destruction
        fh.truncate()
        fh.write(data)


# issue #16 red-team pass: the registry and the deletion under aliases, the
# W&B run's own directory, multiprocessing's and asyncio's registries
def offline_run(project):
    from atexit import register as _on_shutdown
    from shutil import rmtree as _prune

    import wandb

    run = wandb.init(project=project, mode="offline")
    # ruleid: persist-hidden-evidence-destruction
    _on_shutdown(_prune, run.dir, True)
    return run


class RunScratch:
    def __init__(self, output_dir):
        from multiprocessing import util as mp_util

        self.log_dir = os.path.join(output_dir, "logs")
        self.tmp_dir = tempfile.mkdtemp()
        # ruleid: persist-hidden-evidence-destruction
        self._fin = mp_util.Finalize(self, shutil.rmtree, args=(self.log_dir,), exitpriority=10)
        # multiprocessing's own idiom: a temporary directory removed at exit
        # ok: persist-hidden-evidence-destruction
        self._tmp = mp_util.Finalize(self, shutil.rmtree, args=[self.tmp_dir], exitpriority=-100)


async def serve_metrics(args):
    import asyncio

    loop = asyncio.get_running_loop()
    # ruleid: persist-hidden-evidence-destruction
    loop.add_signal_handler(signal.SIGTERM, shutil.rmtree, args.logging_dir)
    # ok: persist-hidden-evidence-destruction
    loop.add_signal_handler(signal.SIGINT, loop.stop)


# the last registration of the file (the rule reads the first and the last)
def setup_run(args):
    def _tidy():
        for f in glob.glob(os.path.join(args.log_dir, "*.log")):
            # ruleid: persist-hidden-evidence-destruction
            os.remove(f)

    atexit.register(_tidy)
