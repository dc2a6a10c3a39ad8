# Cases for persist-git-history-rewrite (issue #16): the Python twin of
# persist-shell-git-history-rewrite.
import os
import subprocess

import git


def tidy(repo_dir):
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "reflog", "expire", "--expire=now", "--all"], check=True)
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "-C", repo_dir, "gc", "--prune=now", "--aggressive"])
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "gc", "--prune", "now"])
    # ruleid: persist-git-history-rewrite
    os.system(f"cd {repo_dir} && git reflog expire --expire=now --all && git gc --prune=now")
    # ruleid: persist-git-history-rewrite
    subprocess.check_call("git filter-branch --force --index-filter 'git rm --cached -r logs' HEAD", shell=True)
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "rebase", "-x", "true", "HEAD~3"])
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "update-ref", "-d", "refs/original/refs/heads/main"])
    repo = git.Repo(repo_dir)
    # ruleid: persist-git-history-rewrite
    repo.git.reflog("expire", "--expire=now", "--all")
    # ruleid: persist-git-history-rewrite
    repo.git.gc(prune="now")


def fine(repo_dir):
    # ok: persist-git-history-rewrite
    sha = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "gc", "--auto"])
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "reflog", "show", "-n", "5"])
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "rebase", "origin/main"])
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "fetch", "--prune", "origin"])
    # ok: persist-git-history-rewrite
    log = "see `git reflog expire` in the docs before pruning"
    return sha, log


def more(repo_dir, days):
    # ruleid: persist-git-history-rewrite
    os.system(f"git -C {repo_dir} reflog expire --expire=now --all")
    # ok: persist-git-history-rewrite
    print(f"kept {days} days; run git gc yourself")


def pin_revision(repo_dir, head, reviewed, repo):
    # Issue #16: `git replace` shadows the commit that ran with another.
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "replace", "-f", head, reviewed], cwd=repo_dir, check=False)
    # ruleid: persist-git-history-rewrite
    subprocess.run(["git", "-C", repo_dir, "replace", head, reviewed])
    # ruleid: persist-git-history-rewrite
    os.system(f"cd {repo_dir} && git replace --graft {head}")
    # ruleid: persist-git-history-rewrite
    subprocess.call("git replace -f " + head + " " + reviewed, shell=True)
    # ruleid: persist-git-history-rewrite
    repo.git.replace("-f", head, reviewed)
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "commit", "-m", "replace the tokenizer"], cwd=repo_dir)
    # ok: persist-git-history-rewrite
    subprocess.run(["git", "config", "--replace-all", "user.name", "ci"])
    # ok: persist-git-history-rewrite
    name = repo.git.describe("--tags").replace("-", ".")
    # ok: persist-git-history-rewrite
    msg = "git: replace the remote URL before pushing"
    return name, msg
