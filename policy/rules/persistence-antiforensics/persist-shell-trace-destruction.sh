#!/bin/bash
# Launcher-style cases for persist-shell-trace-destruction (issue #16).

# ruleid: persist-shell-trace-destruction
rm -rf "$OUTPUT_DIR/checkpoints" "$OUTPUT_DIR/logs"
# ruleid: persist-shell-trace-destruction
rm -rf wandb/ mlruns/
# ruleid: persist-shell-trace-destruction
find "$RUN_DIR/lightning_logs" -name '*.tfevents*' -delete
# ruleid: persist-shell-trace-destruction
shred -u -n 1 train.log
# ruleid: persist-shell-trace-destruction
truncate -s 0 logs/train.log
# ruleid: persist-shell-trace-destruction
rm -f "$CKPT_DIR"/*.ckpt

# ok: persist-shell-trace-destruction
rm -rf build/ dist/ .pytest_cache
# ok: persist-shell-trace-destruction
rm -rf "$TMPDIR/nccl-$SLURM_JOB_ID"
# ok: persist-shell-trace-destruction
mkdir -p "$OUTPUT_DIR/logs" "$OUTPUT_DIR/checkpoints"
# ok: persist-shell-trace-destruction
rm -f /tmp/train.lock
# ok: persist-shell-trace-destruction
find data/ -name '*.tmp' -delete

# Issue #16: a glob inside double quotes is not expanded (espnet's recipes
# clear a stage's logs this way before its jobs write them): nothing deleted.
# ok: persist-shell-trace-destruction
rm -f "${_logdir}/*.log"
# ok: persist-shell-trace-destruction
if [ -d "$d" ]; then rm -f "$d/*.log"; fi
# ruleid: persist-shell-trace-destruction
rm -f "${_logdir}"/*.log
# ruleid: persist-shell-trace-destruction
eval rm -f "${_logdir}/*.log"
# ruleid: persist-shell-trace-destruction
ssh "$HOST" rm -f "${_logdir}/*.log"
# ruleid: persist-shell-trace-destruction
rm -f "$(ls -d "$RUN_DIR"/*.log)"
# ruleid: persist-shell-trace-destruction
rm -f "${_logdir}/*.log" "$RUN_DIR"/*.ckpt
