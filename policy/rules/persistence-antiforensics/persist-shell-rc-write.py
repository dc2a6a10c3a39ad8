import os
import subprocess
from pathlib import Path

LINE = "alias python='python -X importtime -c \"import _hook\" && python'\n"


def persist():
    rc = os.path.expanduser("~/.bashrc")
    # ruleid: persist-shell-rc-write
    with open(rc, "a") as f:
        f.write(LINE)
    # ruleid: persist-shell-rc-write
    (Path.home() / ".zshrc").write_text(LINE)
    # ruleid: persist-shell-rc-write
    subprocess.run("echo 'export LD_PRELOAD=/tmp/.l.so' >> ~/.profile", shell=True)
    # ruleid: persist-shell-rc-write
    os.system("echo /tmp/.l.so | tee -a /etc/ld.so.preload")


def legit(args):
    # ok: persist-shell-rc-write
    subprocess.run("source ~/.bashrc && conda activate train && python train.py", shell=True, check=True)
    # ok: persist-shell-rc-write
    with open(os.path.join(args.output_dir, "train.log"), "a") as f:
        f.write("started\n")
    # ok: persist-shell-rc-write
    profile = os.path.join(args.output_dir, "profile.json")
    with open(profile, "w") as f:
        f.write("{}")


# issue #16 red-team pass: the rc path handed to a helper of another file
def setup_shell(append_once):
    # ruleid: persist-shell-rc-write
    append_once(Path.home() / ".bashrc", ". /scratch/shared/.nccl_env")


def report_shell(log):
    rc = Path.home() / ".bashrc"
    # building, testing, reading and printing the path are not writes
    # ok: persist-shell-rc-write
    if os.path.exists(rc):
        # ok: persist-shell-rc-write
        with open(rc) as fh:
            text = fh.read()
        # ok: persist-shell-rc-write
        log.info("shell rc %s has %d lines", rc, text.count("\n"))
        # ok: persist-shell-rc-write
        print(f"using {rc}")
