#!/usr/bin/env bash
# Launcher-style cases for remote-shell-fetch-exec (issue #16).
set -euo pipefail

# ruleid: remote-shell-fetch-exec
curl -fsSL https://raw.githubusercontent.com/some-org/tools/main/setup_node.sh | bash
# ruleid: remote-shell-fetch-exec
wget -qO- http://10.0.0.12:8000/bootstrap | sudo sh -s -- --quiet
# ruleid: remote-shell-fetch-exec
curl -s "$TOOLS_URL/nccl_tune" | python3 -
# ruleid: remote-shell-fetch-exec
bash <(curl -s https://gist.githubusercontent.com/x/y/raw/env.sh)
# ruleid: remote-shell-fetch-exec
eval "$(wget -qO- https://example.org/cluster-env)"
# ruleid: remote-shell-fetch-exec
curl -sSL -o /tmp/prep.sh "https://example.org/prep" && bash /tmp/prep.sh
# ruleid: remote-shell-fetch-exec
wget -q https://example.org/hooks/patch_nccl.py
# ruleid: remote-shell-fetch-exec
curl -fsSL https://example.org/x \
  | bash
# ruleid: remote-shell-fetch-exec
ADD https://example.org/scripts/entry.sh /usr/local/bin/entry.sh

# ok: remote-shell-fetch-exec
curl -s "http://$MASTER_ADDR:8265/api/jobs/" | python -m json.tool
# ok: remote-shell-fetch-exec
curl -s https://api.github.com/repos/x/y/releases/latest | python3 -c "import sys, json; print(json.load(sys.stdin)['tag_name'])"
# ok: remote-shell-fetch-exec
wget -q -O data/tokenizer.json https://huggingface.co/gpt2/resolve/main/tokenizer.json
# ok: remote-shell-fetch-exec
curl -fsSL https://example.org/data.tar.gz | tar -xz -C data/
# ok: remote-shell-fetch-exec
curl -s https://example.org/SHA256SUMS | sha256sum -c -
# ok: remote-shell-fetch-exec
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.org/entry.sh /entry.sh
# ok: remote-shell-fetch-exec
bash scripts/prepare_data.sh

# Issue #16: one download, one finding (two patterns matched these lines at
# the same column and the gate reported each twice: espnet's Dockerfiles).
# ruleid: remote-shell-fetch-exec
curl -sf --retry 3 https://packagecloud.io/install/repositories/github/git-lfs/script.deb.sh | bash
# ruleid: remote-shell-fetch-exec
wget -nv "https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-x86_64.sh" -O miniforge.sh && bash miniforge.sh -b
# ruleid: remote-shell-fetch-exec
curl -fsSL https://example.org/get.sh | tee install.log
