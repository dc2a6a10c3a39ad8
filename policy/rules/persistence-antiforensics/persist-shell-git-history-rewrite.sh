#!/bin/bash
# Launcher-style cases for persist-shell-git-history-rewrite (issue #16).

# ruleid: persist-shell-git-history-rewrite
git reflog expire --expire=now --all
# ruleid: persist-shell-git-history-rewrite
git -C "$REPO" gc --quiet --prune=now
# ruleid: persist-shell-git-history-rewrite
git rebase -q --exec 'python tools/strip_meta.py' HEAD~3
# ruleid: persist-shell-git-history-rewrite
git rebase -ix "make fmt" origin/main
# ruleid: persist-shell-git-history-rewrite
git filter-branch -f --index-filter 'git rm --cached -q launch/debug.sh' HEAD
# ruleid: persist-shell-git-history-rewrite
GIT_COMMITTER_DATE="2023-01-01T00:00:00" git commit --amend --no-edit -q

# ok: persist-shell-git-history-rewrite
git rev-parse --short HEAD > "$OUT/commit.txt"
# ok: persist-shell-git-history-rewrite
git log -1 --format=%cd
# ok: persist-shell-git-history-rewrite
git gc --auto
# ok: persist-shell-git-history-rewrite
git pull --rebase origin main
# ok: persist-shell-git-history-rewrite
git reflog -n 5
