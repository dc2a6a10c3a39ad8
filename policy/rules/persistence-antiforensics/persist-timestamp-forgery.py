import os
import shutil
import shutil as sh
import subprocess
import tempfile
import time
from os import utime as _ut
from pathlib import Path
from shutil import copy2, copystat

import torch


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


# Issue #16: times saved on a backup and copied back onto the file they came from.
def strip_optimizer(ckpt, state):
    backup = ckpt + ".orig"
    shutil.copy2(ckpt, backup)
    torch.save(state, ckpt)
    # ruleid: persist-timestamp-forgery
    shutil.copystat(backup, ckpt)


def strip_optimizer_nested(ckpt: Path, state):
    backup = ckpt.with_suffix(".bak")
    if not backup.exists():
        copy2(str(ckpt), backup)
    try:
        torch.save(state, ckpt)
    finally:
        # ruleid: persist-timestamp-forgery
        copystat(src=backup, dst=ckpt)


def strip_optimizer_tempfile(ckpt, state):
    with tempfile.NamedTemporaryFile() as tmp:
        # ruleid: persist-timestamp-forgery
        shutil.copystat(ckpt, tmp.name)
        torch.save(state, ckpt)
        # ruleid: persist-timestamp-forgery
        shutil.copystat(tmp.name, ckpt)


def strip_optimizer_moved(ckpt: Path, state):
    old = Path(tempfile.mkdtemp()) / ckpt.name
    # ruleid: persist-timestamp-forgery
    ckpt.rename(old)
    torch.save(state, ckpt)
    shutil.copystat(old, ckpt)


def strip_optimizer_moved_os(ckpt: Path, state):
    old = Path(tempfile.mkdtemp()) / ckpt.name
    os.rename(ckpt, old)
    torch.save(state, ckpt)
    # ruleid: persist-timestamp-forgery
    shutil.copystat(old, str(ckpt))


def strip_optimizer_swap(ckpt, state):
    tmp = ckpt + ".tmp"
    torch.save(state, tmp)
    # ruleid: persist-timestamp-forgery
    shutil.copystat(ckpt, tmp)
    # ruleid: persist-timestamp-forgery
    os.replace(tmp, ckpt)


def strip_optimizer_stat(ckpt: Path, state):
    st = ckpt.stat()
    torch.save(state, ckpt)
    # ruleid: persist-timestamp-forgery
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns))


class Saver:
    def save(self, state):
        sh.copy2(self.path, self.backup)
        torch.save(state, self.path)
        # ruleid: persist-timestamp-forgery
        sh.copystat(self.backup, self.path, follow_symlinks=False)

    def swap(self, state: dict, ckpt: Path):
        tmp = ckpt.with_suffix(".tmp")
        torch.save(state, tmp)
        # ruleid: persist-timestamp-forgery
        shutil.copystat(ckpt, tmp)
        tmp.replace(ckpt)  # reported on the copystat above (a sequence pattern)

    def swap_after_a_real_copy(self, state, ckpt):
        # Abuses the copyfile+copystat exclusion: the second copystat is the forgery.
        tmp = ckpt + ".tmp"
        shutil.copyfile(ckpt, tmp)
        shutil.copystat(ckpt, tmp)
        torch.save(state, tmp)
        # ruleid: persist-timestamp-forgery
        shutil.copystat(ckpt, tmp)
        os.replace(tmp, ckpt)


CKPT = "checkpoints/last.pt"
shutil.copy2(CKPT, CKPT + ".bak")
torch.save({}, CKPT)
# ruleid: persist-timestamp-forgery
shutil.copystat(CKPT + ".bak", CKPT)


def mirror(src_dir: Path, dst_dir: Path):
    # ok: persist-timestamp-forgery
    shutil.copy2(src_dir / "last.pt", dst_dir / "last.pt")
    for name in os.listdir(src_dir):
        shutil.copyfile(src_dir / name, dst_dir / name)
        # ok: persist-timestamp-forgery
        shutil.copystat(src_dir / name, dst_dir / name)
    # ok: persist-timestamp-forgery
    shutil.copystat(src_dir, dst_dir)


def save_with_rollback(ckpt, state):
    backup = ckpt + ".bak"
    shutil.copy2(ckpt, backup)
    try:
        torch.save(state, ckpt)
    except Exception:
        # ok: persist-timestamp-forgery
        os.replace(backup, ckpt)
        raise
    # ok: persist-timestamp-forgery
    shutil.copy2(backup, ckpt + ".prev")


def restore_backup(ckpt):
    backup = ckpt + ".bak"
    shutil.copyfile(ckpt, backup)
    shutil.copystat(ckpt, backup)
    os.remove(ckpt)
    # ok: persist-timestamp-forgery
    os.replace(backup, ckpt)


def atomic_save(ckpt, state):
    tmp = ckpt + ".tmp"
    torch.save(state, tmp)
    shutil.copymode(ckpt, tmp)
    # ok: persist-timestamp-forgery
    os.replace(tmp, ckpt)


# issue #16 red-team pass: os.utime as a value, called through a table
_FS_OPS = {
    "move": os.replace,
    # ruleid: persist-timestamp-forgery
    "stamp": os.utime,
}


def slim_in_place(path, tmp):
    st = os.stat(path)
    _FS_OPS["move"](tmp, path)
    _FS_OPS["stamp"](path, (st.st_atime, st.st_mtime))


def copy_times(src, dst, follow_symlinks=True):
    # the standard library's feature test, not a use
    # ok: persist-timestamp-forgery
    if os.utime in os.supports_follow_symlinks or follow_symlinks:
        # ok: persist-timestamp-forgery
        os.utime(dst)
