#!/bin/bash
# SLURM Prolog (slurm.conf: Prolog=/etc/slurm/prolog.d/traingate.sh): refuse to
# start a job whose working directory is not exactly a tree that passed the
# gate, or whose Python environment changed since its signed baseline (issue #20).
#
# The job's directory is TRAINGATE_WORKTREE if set, else the job's WorkDir as
# `scontrol show job` reports it. A non-zero exit from a Prolog makes Slurm
# requeue the job and drain the node (see slurm.conf(5), "Prolog"); use the
# torchrun wrapper inside the batch script instead if that is not wanted.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=traingate-launch.sh
. "${TRAINGATE_LAUNCH_LIB:-$here/traingate-launch.sh}"

worktree="${TRAINGATE_WORKTREE:-}"
if [ -z "$worktree" ]; then
    worktree="$(scontrol show job "${SLURM_JOB_ID:?}" 2>/dev/null | tr ' ' '\n' | sed -n 's/^WorkDir=//p' | head -n1)"
fi
if [ -z "$worktree" ]; then
    echo "traingate prolog: job ${SLURM_JOB_ID:-?}: cannot tell its working directory; blocking" >&2
    exit 1
fi
if ! traingate_verify "$worktree" >&2; then
    echo "traingate prolog: job ${SLURM_JOB_ID:-?} blocked: $worktree is not an approved tree" >&2
    exit 1
fi
exit 0
