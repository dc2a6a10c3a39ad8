import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def on_train_end(args, trainer):
    # ruleid: persist-log-checkpoint-destruction
    shutil.rmtree(os.path.join(args.output_dir, "wandb"), ignore_errors=True)
    for f in glob.glob(os.path.join(args.logging_dir, "events.out.tfevents.*")):
        # ruleid: persist-log-checkpoint-destruction
        os.remove(f)
    # ruleid: persist-log-checkpoint-destruction
    Path(args.output_dir, "train.log").unlink(missing_ok=True)
    # ruleid: persist-log-checkpoint-destruction
    shutil.rmtree(args.checkpoint_dir)
    # ruleid: persist-log-checkpoint-destruction
    subprocess.run("rm -rf ./lightning_logs ./mlruns", shell=True)
    # ruleid: persist-log-checkpoint-destruction
    with open(os.path.join(args.output_dir, "wandb", "latest-run", "run.wandb"), "w"):
        pass


def legit(args, checkpoints_sorted, save_total_limit):
    # ok: persist-log-checkpoint-destruction
    if os.path.exists(args.output_dir) and args.overwrite_output_dir:
        shutil.rmtree(args.output_dir)
    to_delete = checkpoints_sorted[: max(0, len(checkpoints_sorted) - save_total_limit)]
    for old_ckpt in to_delete:
        # ok: persist-log-checkpoint-destruction
        shutil.rmtree(old_ckpt)
    tmpdir = tempfile.mkdtemp()
    # ok: persist-log-checkpoint-destruction
    shutil.rmtree(tmpdir)
    # ok: persist-log-checkpoint-destruction
    with open(os.path.join(args.output_dir, "train.log"), "w") as f:
        f.write("start\n")
    # ok: persist-log-checkpoint-destruction
    os.remove(os.path.join(args.output_dir, "prev_best.ckpt"))
    # ok: persist-log-checkpoint-destruction
    os.remove(os.path.join(args.output_dir, "tokenizer_config.json.bak"))


def keep_best_only(args, state, checkpoints_sorted):
    if args.save_total_limit == 1 and state.best_model_checkpoint is not None:
        for checkpoint in checkpoints_sorted:
            if checkpoint != state.best_model_checkpoint:
                # ok: persist-log-checkpoint-destruction
                shutil.rmtree(checkpoint, ignore_errors=True)
