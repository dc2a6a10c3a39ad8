import os
import subprocess
import time
from os import utime as _ut
from pathlib import Path


def backdate(ckpt_path, ref_path):
    st = os.stat(ref_path)
    # ruleid: persist-timestamp-forgery
    os.utime(ckpt_path, (st.st_atime, st.st_mtime))
    # ruleid: persist-timestamp-forgery
    _ut("train.py", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    # ruleid: persist-timestamp-forgery
    subprocess.run(["touch", "-r", ref_path, ckpt_path], check=True)
    # ruleid: persist-timestamp-forgery
    getattr(__import__("o" + "s"), "ut" + "ime")(ckpt_path, (0, 0))
    # ruleid: persist-timestamp-forgery
    os.system("touch -d '2024-01-01 00:00' configs/train.yaml")


def legit(output_dir):
    done = Path(output_dir) / "DONE"
    # ok: persist-timestamp-forgery
    done.touch()
    # ok: persist-timestamp-forgery
    os.utime(done)
    # ok: persist-timestamp-forgery
    os.utime(done, None)
    # ok: persist-timestamp-forgery
    age = time.time() - os.path.getmtime(done)
    # ok: persist-timestamp-forgery
    subprocess.run(["touch", str(done)], check=True)
    return age
