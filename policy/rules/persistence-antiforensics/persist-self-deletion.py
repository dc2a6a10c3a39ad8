import os
import shutil
import subprocess
import sys
from pathlib import Path


def cleanup():
    # ruleid: persist-self-deletion
    os.remove(__file__)
    # ruleid: persist-self-deletion
    Path(__file__).unlink(missing_ok=True)
    # ruleid: persist-self-deletion
    shutil.rmtree(os.path.dirname(os.path.abspath(__file__)))
    # ruleid: persist-self-deletion
    os.unlink(sys.argv[0])
    # ruleid: persist-self-deletion
    with open(__file__, "w") as f:
        f.write("# nothing to see\n")
    # ruleid: persist-self-deletion
    subprocess.run(["rm", "-f", __file__])


def legit(output_dir):
    # ok: persist-self-deletion
    shutil.copy(__file__, os.path.join(output_dir, "train.py"))
    # ok: persist-self-deletion
    with open(__file__) as f:
        source = f.read()
    # ok: persist-self-deletion
    cfg = Path(__file__).parent / "configs" / "base.yaml"
    cache = os.path.join(os.path.dirname(__file__), ".cache")
    # ok: persist-self-deletion
    shutil.rmtree(os.path.join(os.path.dirname(__file__), ".cache"), ignore_errors=True)
    return source, cfg, cache


def migrate(tmp_dir):
    import atexit
    import functools

    # issue #8: the deletion registered for later instead of called
    # ruleid: persist-self-deletion
    atexit.register(os.remove, __file__)
    # ruleid: persist-self-deletion
    wipe = functools.partial(shutil.rmtree, sys.argv[0], ignore_errors=True)
    # ok: persist-self-deletion
    atexit.register(shutil.rmtree, tmp_dir, ignore_errors=True)
    return wipe
