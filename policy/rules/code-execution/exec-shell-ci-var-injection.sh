#!/usr/bin/env bash
# CI script lines for exec-shell-ci-var-injection: GitLab `script:` and GitHub
# `run:` lines are lifted onto a bash target like these (checks/semgrep/commands.py).
set -euo pipefail

# ruleid: exec-shell-ci-var-injection
eval "$CI_COMMIT_MESSAGE"
# ruleid: exec-shell-ci-var-injection
eval "python train.py --run-name ${CI_COMMIT_BRANCH}"
# ruleid: exec-shell-ci-var-injection
sh -c "echo training run $CI_MERGE_REQUEST_TITLE"
# ruleid: exec-shell-ci-var-injection
bash -lc "$CI_COMMIT_TITLE"
# ruleid: exec-shell-ci-var-injection
/bin/bash -c "python -m train.smoke --tag $CI_COMMIT_REF_NAME"
# ruleid: exec-shell-ci-var-injection
python3 -c "import wandb; wandb.init(name='$CI_COMMIT_BRANCH')"
# ruleid: exec-shell-ci-var-injection
bash -c "echo '$CI_MERGE_REQUEST_DESCRIPTION' >> notes.md"
# ruleid: exec-shell-ci-var-injection
perl -e "print qq($CI_COMMIT_TAG_MESSAGE)"
# ruleid: exec-shell-ci-var-injection
echo "$CI_COMMIT_MESSAGE" | sh
# ruleid: exec-shell-ci-var-injection
printf '%s\n' "$CI_MERGE_REQUEST_DESCRIPTION" | tr -d '\r' | python3 -
# ruleid: exec-shell-ci-var-injection
bash <<< "$CI_COMMIT_DESCRIPTION"
# ruleid: exec-shell-ci-var-injection
source <(echo "$CI_MERGE_REQUEST_LABELS")
# ruleid: exec-shell-ci-var-injection
$(echo $CI_COMMIT_TITLE)
# ruleid: exec-shell-ci-var-injection
`echo $CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`
# ruleid: exec-shell-ci-var-injection
test -n "$CI_COMMIT_TAG" && $CI_COMMIT_TAG
# ruleid: exec-shell-ci-var-injection
bash -c "git checkout $GITHUB_HEAD_REF && make train"
# ruleid: exec-shell-ci-var-injection
sudo -E bash -c "deploy.sh ${CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME}"
# ruleid: exec-shell-ci-var-injection
bash -c "
  echo $CI_COMMIT_AUTHOR
"

# ok: exec-shell-ci-var-injection
echo "$CI_COMMIT_REF_NAME"
# ok: exec-shell-ci-var-injection
echo "training PR: $CI_MERGE_REQUEST_TITLE"
# ok: exec-shell-ci-var-injection
git checkout "$CI_COMMIT_SHA"
# ok: exec-shell-ci-var-injection
docker build --tag "registry.example.com/train:$CI_COMMIT_REF_SLUG" .
# ok: exec-shell-ci-var-injection
docker build --tag "$(echo "$CI_COMMIT_REF_NAME" | tr / -)" .
# ok: exec-shell-ci-var-injection
cd "$CI_PROJECT_DIR" && python -m train --max-steps 20
# ok: exec-shell-ci-var-injection
pip install --index-url "https://gitlab-ci-token:${CI_JOB_TOKEN}@gitlab.example.com/api/v4/projects/1/packages/pypi/simple" -e .
# ok: exec-shell-ci-var-injection
eval "$(ssh-agent -s)"
# ok: exec-shell-ci-var-injection
bash -c 'echo "$CI_COMMIT_MESSAGE"'
# ok: exec-shell-ci-var-injection
sh -c 'python -m train --run-name "$1"' _ "$CI_COMMIT_BRANCH"
# ok: exec-shell-ci-var-injection
echo "$CI_COMMIT_MESSAGE" | python tools/changelog.py --stdin
# ok: exec-shell-ci-var-injection
echo "$CI_COMMIT_MESSAGE" | grep -q '\[skip train\]' && exit 0
# ok: exec-shell-ci-var-injection
if [ "$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH" ]; then python -m train.release; fi
# ok: exec-shell-ci-var-injection
case "$CI_MERGE_REQUEST_LABELS" in
  *long-run*) export MAX_STEPS=100000 ;;
esac
# ok: exec-shell-ci-var-injection
export RUN_NAME="${CI_COMMIT_REF_NAME//\//-}"
# ok: exec-shell-ci-var-injection
python -m train --run-name "$CI_COMMIT_REF_NAME" --notes "$CI_COMMIT_TITLE"
# ok: exec-shell-ci-var-injection
bash scripts/train.sh "$CI_COMMIT_BRANCH"
# ok: exec-shell-ci-var-injection
python -c "import sys; print(sys.argv[1])" "$CI_COMMIT_TITLE"
# ok: exec-shell-ci-var-injection
torchrun --nproc_per_node=8 train.py --tag "$GITHUB_HEAD_REF"
# ruleid: exec-shell-ci-var-injection
printf '%s\n' "$CI_COMMIT_DESCRIPTION" | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' | bash
# ruleid: exec-shell-ci-var-injection
eval "cd /workspace; python -m train.smoke --tag $CI_COMMIT_TAG"
# ruleid: exec-shell-ci-var-injection
eval "echo '$CI_MERGE_REQUEST_TITLE'"
# ruleid: exec-shell-ci-var-injection
bash -c "$(printf '%s' "$CI_COMMIT_MESSAGE")"
# ruleid: exec-shell-ci-var-injection
sh -c "cd $(dirname "$0") && python -m train --tag $CI_COMMIT_REF_NAME"
# ruleid: exec-shell-ci-var-injection
su - trainer -c "python -m train.release --notes '$CI_COMMIT_TAG_MESSAGE'"
# ruleid: exec-shell-ci-var-injection
ssh "$TRAIN_HOST" "cd /srv/train && git checkout $CI_COMMIT_BRANCH && ./launch.sh"
# ruleid: exec-shell-ci-var-injection
ssh -o BatchMode=yes trainer@gpu01 ./launch.sh --run-name "$CI_COMMIT_REF_NAME"
# ruleid: exec-shell-ci-var-injection
python3 - <<EOF
import wandb
wandb.init(name="$CI_MERGE_REQUEST_TITLE")
EOF

# ok: exec-shell-ci-var-injection
python3 - <<'EOF'
import os
print(os.environ["CI_MERGE_REQUEST_TITLE"])
EOF
# ok: exec-shell-ci-var-injection
ssh -i "$DEPLOY_KEY" trainer@gpu01 ./launch.sh --commit "$CI_COMMIT_SHA"
# ok: exec-shell-ci-var-injection
bash -c "$(cat tools/warmup.sh)" && echo "$CI_COMMIT_TITLE"
