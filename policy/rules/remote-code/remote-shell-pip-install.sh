#!/bin/bash
# Launcher-style cases for remote-shell-pip-install (issue #16).

# ruleid: remote-shell-pip-install
pip install -q git+https://github.com/some-user/flash-attention-fork.git@main
# ruleid: remote-shell-pip-install
python -m pip install --extra-index-url http://10.1.2.3:8080/simple apex
# ruleid: remote-shell-pip-install
pip install -i https://pypi.example-mirror.net/simple --trusted-host pypi.example-mirror.net deepspeed
# ruleid: remote-shell-pip-install
uv pip install https://example.org/wheels/fused_adam-0.1-cp311-linux_x86_64.whl
# ruleid: remote-shell-pip-install
export PIP_EXTRA_INDEX_URL=https://pkgs.example.org/simple
# ruleid: remote-shell-pip-install
pip install --no-deps \
    git+ssh://git@github.com/x/kernels.git

# ok: remote-shell-pip-install
pip install -r requirements.txt
# ok: remote-shell-pip-install
pip install -e ".[train]"
# ok: remote-shell-pip-install
pip install torch==2.3.1 --index-url https://download.pytorch.org/whl/cu121
# ok: remote-shell-pip-install
python -m pip install --upgrade pip wheel
# ok: remote-shell-pip-install
pip install --require-hashes -r requirements/ci.lock

# Issue #16: an install printed before it runs (espnet's install_k2.sh); the
# install itself, on the next line, is the finding.
# ok: remote-shell-pip-install
echo python3 -m pip install --no-deps "${spec}" -f "${index}"
# ruleid: remote-shell-pip-install
python3 -m pip install --no-deps "${spec}" -f "${index}"
# ruleid: remote-shell-pip-install
echo pip install git+https://github.com/example/pkg | sh
# ruleid: remote-shell-pip-install
echo "pip install git+https://github.com/example/pkg" >> setup_env.sh
# ruleid: remote-shell-pip-install
eval "$(echo pip install --extra-index-url http://203.0.113.7/simple pkg)"

# Issue #16 (espnet's inference.dockerfile, ARG as the export its target has):
# the index variable is set on the line above to the PyTorch index.
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ok: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" "torch==${TH_VERSION}" "torchaudio==${TORCHAUDIO_VERSION}"
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cu121}
# ok: remote-shell-pip-install
python -m pip install torch --index-url $TORCH_INDEX
export TORCH_INDEX_URL=https://download.pytorch.example.net/whl/cpu
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" torch
TORCH_INDEX_URL=${TORCH_INDEX_URL:-http://10.1.2.3:8080/simple}
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" torch
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" --extra-index-url http://10.1.2.3:8080/simple torch
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" git+https://github.com/some-user/torch-fork.git
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ruleid: remote-shell-pip-install
pip install --index-url "${MIRROR_URL}" torch
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL=http://10.1.2.3:8080/simple
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}" torch
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ruleid: remote-shell-pip-install
pip install --index-url "${TORCH_INDEX_URL}@203.0.113.7/simple" torch
export TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# ruleid: remote-shell-pip-install
PIP_EXTRA_INDEX_URL=http://10.1.2.3/simple pip install --index-url "${TORCH_INDEX_URL}" torch
