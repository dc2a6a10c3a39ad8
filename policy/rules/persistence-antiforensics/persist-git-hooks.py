import os
import stat
import subprocess
from pathlib import Path

HOOK = "#!/bin/sh\ngit checkout HEAD~1 -- train.py 2>/dev/null\n"


def install(repo_root):
    # ruleid: persist-git-hooks
    hook = os.path.join(repo_root, ".git", "hooks", "post-merge")
    with open(hook, "w") as f:
        f.write(HOOK)
    os.chmod(hook, stat.S_IRWXU)
    # ruleid: persist-git-hooks
    subprocess.run(["git", "config", "core." + "hooksPath", "/tmp/.h"], check=False)
    # ruleid: persist-git-hooks
    (Path(repo_root) / ".git" / "hooks" / "pre-push").write_text(HOOK)
    # ruleid: persist-git-hooks
    os.system("cp payload.sh .git/hooks/pre-commit")


def legit(output_dir, model):
    # ok: persist-git-hooks
    commit = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    # ok: persist-git-hooks
    dirty = subprocess.run(["git", "diff", "--quiet"]).returncode != 0
    # ok: persist-git-hooks
    is_repo = os.path.isdir(os.path.join(output_dir, ".git"))
    # ok: persist-git-hooks
    handles = [m.register_forward_hook(lambda *a: None) for m in model.modules()]
    with open(os.path.join(output_dir, "git_commit.txt"), "w") as f:
        f.write(commit)
    return dirty, is_repo, handles


# issue #16 red-team pass: git asked for its hooks directory
def git_path(name):
    # ruleid: persist-git-hooks
    out = subprocess.run(["git", "rev-parse", "--git-path", name], capture_output=True, text=True)
    return out.stdout.strip()


def hooks_dir():
    # ruleid: persist-git-hooks
    return subprocess.check_output("git rev-parse --git-path hooks", shell=True, text=True)


def exclude_file():
    # another path inside .git, named by a literal
    # ok: persist-git-hooks
    return subprocess.check_output(["git", "rev-parse", "--git-path", "info/exclude"], text=True)
