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


# Issue #16: path arithmetic on __file__ is not a deletion of it: str.replace
# builds a name, a literal suffix names a file beside the module ...
def sibling_paths():
    # ok: persist-self-deletion
    src = __file__.replace(".pyc", ".py")
    # ok: persist-self-deletion
    with open(__file__.replace(".py", ".json"), "w") as f:
        f.write("{}")
    # ok: persist-self-deletion
    os.remove(__file__ + ".lock")
    # ok: persist-self-deletion
    open(os.path.splitext(__file__)[0] + ".log", "w").close()
    # ok: persist-self-deletion
    shutil.rmtree(os.path.dirname(__file__) + "/cache", ignore_errors=True)
    return src


# ... but a path built back to the module or above it still is.
def built_back_to_self():
    same = ".py"
    # ruleid: persist-self-deletion
    os.remove(__file__.replace(".pyc", ".py"))
    # ruleid: persist-self-deletion
    shutil.rmtree(os.path.join(os.path.dirname(__file__), ".."))
    # ruleid: persist-self-deletion
    shutil.rmtree(Path(__file__).parent / "..")
    # ruleid: persist-self-deletion
    os.remove(os.path.join(os.path.dirname(__file__), os.path.basename(__file__)))
    # ruleid: persist-self-deletion
    Path(__file__).with_suffix(".py").unlink()
    # ruleid: persist-self-deletion
    Path(__file__).parent.joinpath(Path(__file__).name).write_text("")
    # ruleid: persist-self-deletion
    Path(__file__).replace("/tmp/x.py")
    # ruleid: persist-self-deletion
    os.remove(__file__.replace(same, same))
    # ruleid: persist-self-deletion
    os.remove(__file__ + ".lock"[:0])
    # ruleid: persist-self-deletion
    shutil.rmtree(os.path.dirname(__file__) + "/..")
