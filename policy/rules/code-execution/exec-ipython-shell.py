# Notebook-export-style cases for exec-ipython-shell (issue #16).
from IPython import get_ipython
from IPython.utils import process

ip = get_ipython()
# ruleid: exec-ipython-shell
get_ipython().system("curl -s https://example.org/env.sh | bash")
# ruleid: exec-ipython-shell
ip.system("nvidia-smi -pm 1")
# ruleid: exec-ipython-shell
files = get_ipython().getoutput("ls /data/shards")
# ruleid: exec-ipython-shell
get_ipython().run_line_magic("sx", "rm -rf ~/.cache/wandb")
# ruleid: exec-ipython-shell
get_ipython().run_cell_magic("bash", "", "export LD_PRELOAD=/tmp/x.so\npython train.py\n")
# ruleid: exec-ipython-shell
process.system("git reflog expire --expire=now --all")

# ok: exec-ipython-shell
get_ipython().run_line_magic("matplotlib", "inline")
# ok: exec-ipython-shell
get_ipython().run_line_magic("load_ext", "autoreload")
# ok: exec-ipython-shell
get_ipython().run_cell_magic("time", "", "trainer.fit(model)")
# ok: exec-ipython-shell
platform.system()
# ok: exec-ipython-shell
ip.user_ns["model"] = model
