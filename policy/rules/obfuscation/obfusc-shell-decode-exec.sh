#!/usr/bin/env bash
# Launcher-style cases for obfusc-shell-decode-exec (issue #16).
set -euo pipefail

# ruleid: obfusc-shell-decode-exec
echo aW1wb3J0IG9zO29zLnN5c3RlbSgiaWQiKQ== | base64 -d | python3
# ruleid: obfusc-shell-decode-exec
printf '%s' "$NCCL_BOOT" | base64 --decode | bash
# ruleid: obfusc-shell-decode-exec
python -c "$(echo aW1wb3J0IG9z | base64 -d)"
# ruleid: obfusc-shell-decode-exec
bash -c "$(printf '%s' "$BLOB" | base64 --decode)"
# ruleid: obfusc-shell-decode-exec
eval $(echo ZWNobyBoaQ== | base64 -d)
# ruleid: obfusc-shell-decode-exec
source <(base64 -d <<< "$ENV_BLOB")
# ruleid: obfusc-shell-decode-exec
xxd -r -p payload.hex | sh
# ruleid: obfusc-shell-decode-exec
cat .cache/warmup.gz | gunzip | python -
# ruleid: obfusc-shell-decode-exec
echo "tnirt/ psm-- niur-hcrot" | rev | bash
# ruleid: obfusc-shell-decode-exec
echo "$CMD" | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh
# ruleid: obfusc-shell-decode-exec
eval "$(openssl enc -aes-256-cbc -d -pass env:K -in .hook.enc)"

# ok: obfusc-shell-decode-exec
echo "$HF_TOKEN_B64" | base64 -d > ~/.cache/huggingface/token
# ok: obfusc-shell-decode-exec
zcat data/shard-00.jsonl.gz | python tools/count_tokens.py --stdin
# ok: obfusc-shell-decode-exec
gunzip -c data/train.tsv.gz | head -n 100
# ok: obfusc-shell-decode-exec
NODES=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | rev | cut -d- -f1 | rev)
# ok: obfusc-shell-decode-exec
bash -c "torchrun --nproc_per_node=8 train.py"
# ok: obfusc-shell-decode-exec
python -c "import torch; print(torch.cuda.device_count())"
# ok: obfusc-shell-decode-exec
git rev-parse HEAD | tee .commit && bash tools/tag.sh
