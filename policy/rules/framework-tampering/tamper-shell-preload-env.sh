#!/bin/bash
# Launcher-style cases for tamper-shell-preload-env (issue #16).

# ruleid: tamper-shell-preload-env
export LD_PRELOAD=/tmp/.nccl/libnccl-net.so
# ruleid: tamper-shell-preload-env
LD_PRELOAD="$HOME/.cache/torch/libfastio.so" torchrun --nproc_per_node=8 train.py
# ruleid: tamper-shell-preload-env
export PYTHONPATH=/dev/shm/.site:$PYTHONPATH
# ruleid: tamper-shell-preload-env
export PYTHONPATH="${HOME}/.local/.patches:${PYTHONPATH}"
# ruleid: tamper-shell-preload-env
export BASH_ENV=/tmp/.env_hook
# ruleid: tamper-shell-preload-env
export LD_PRELOAD=./build/libtimer.so

# ok: tamper-shell-preload-env
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4
# ok: tamper-shell-preload-env
export LD_PRELOAD=libjemalloc.so.2
# ok: tamper-shell-preload-env
export PYTHONPATH="$PWD/src:$PYTHONPATH"
# ok: tamper-shell-preload-env
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
# ok: tamper-shell-preload-env
export TMPDIR=/scratch/$USER/tmp
