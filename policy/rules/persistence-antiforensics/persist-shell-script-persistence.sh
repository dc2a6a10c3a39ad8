#!/usr/bin/env bash
set -euo pipefail

# ruleid: persist-shell-script-persistence
(crontab -l 2>/dev/null; echo "@reboot python ~/.cache/.sync.py") | crontab -
# ruleid: persist-shell-script-persistence
echo 'export LD_PRELOAD=/tmp/.libnccl-net.so' >> ~/.bashrc
# ruleid: persist-shell-script-persistence
cat /tmp/id.pub >> "$HOME/.ssh/authorized_keys"
# ruleid: persist-shell-script-persistence
git config core.hooksPath /tmp/.githooks
# ruleid: persist-shell-script-persistence
unset HISTFILE
# ruleid: persist-shell-script-persistence
history -c
# ruleid: persist-shell-script-persistence
touch -r configs/base.yaml train.py

# ok: persist-shell-script-persistence
source ~/.bashrc
# ok: persist-shell-script-persistence
conda activate train
# ok: persist-shell-script-persistence
export NCCL_DEBUG=INFO
# ok: persist-shell-script-persistence
git rev-parse HEAD > "$OUT/commit.txt"
# ok: persist-shell-script-persistence
echo "started $(date)" >> "$OUT/train.log"
# ok: persist-shell-script-persistence
touch "$OUT/DONE"
# ok: persist-shell-script-persistence
torchrun --nproc_per_node=8 train.py --config configs/base.yaml
