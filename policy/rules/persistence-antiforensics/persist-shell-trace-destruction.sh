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

# Issue #16: a stage resets its Kaldi-style job-log directory just before its
# jobs write there (espnet's convert2wav.sh, l3das22_split_channels.sh).
# ok: persist-shell-trace-destruction
rm -r log 2>/dev/null
mkdir -p log
# ok: persist-shell-trace-destruction
  rm -r $tmpdir/log/${x} 2>/dev/null || true
  mkdir -p $tmpdir/log/${x}
# ok: persist-shell-trace-destruction
rm -rf "${dir}/log"; mkdir -p "${dir}/log"
# ruleid: persist-shell-trace-destruction
rm -r logs; mkdir -p logs2
# ruleid: persist-shell-trace-destruction
rm -rf "$OUTPUT_DIR/logs"; mkdir -p "$OUTPUT_DIR/logs"
# ruleid: persist-shell-trace-destruction
rm -rf "$RUN/log" && mkdir -p "$RUN/log2"
# ruleid: persist-shell-trace-destruction
rm -rf log checkpoints; mkdir -p log
# ruleid: persist-shell-trace-destruction
rm -rf "$RUN/ckpt/log"; mkdir -p "$RUN/ckpt/log"
# ruleid: persist-shell-trace-destruction
rm -rf wandb/log; mkdir -p wandb/log
# ruleid: persist-shell-trace-destruction
rm -rf $HOME/log; mkdir -p $HOME/log
# ruleid: persist-shell-trace-destruction
rm -rf ~/log; mkdir -p ~/log
# ruleid: persist-shell-trace-destruction
rm -rf log/*; mkdir -p log
# ruleid: persist-shell-trace-destruction
rm -r log || rm -rf checkpoints; mkdir -p log
# ruleid: persist-shell-trace-destruction
rm -r log
cp /tmp/clean/*.log log/
mkdir -p log
# Issue #16 (espnet's CI after a test recipe, test_integration_espnet2.sh): the
# same words as a launcher wiping its run's checkpoints; only the path (ci/)
# differs, so it stays flagged (a trusted-policy exemption is the answer).
# ruleid: persist-shell-trace-destruction
rm -rf exp dump data ckpt .cache
