"""What instantiating a config runs: dangerous ``_target_``s and code-evaluating resolvers."""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Iterator

from traingate.change import ChangedFile
from traingate.checks.base import Context
from traingate.checks.config.effective import _Eff, _via
from traingate.checks.config.interpolation import (
    interpolation_end,
)
from traingate.checks.config.keypath import format_path
from traingate.checks.config.remote_flags import is_trust_key, truthy
from traingate.checks.config.rules import _finding
from traingate.findings import Finding

# _target_ prefixes that turn a config into code execution.
_DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "__builtin__",
    "importlib",
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "marshal",
    "runpy",
    "shutil",
    "socket",
    "pty",
    "ctypes",
    "code",
    "codeop",
    "sys",
    "webbrowser",
    "pdb",
    "multiprocessing",
    "asyncio.subprocess",
    # Session 27: libraries whose callables run a command, unpickle, or send
    # data to another host (a config that posts the environment, or uploads
    # the checkpoint directory, is exfiltration chosen by a YAML edit).
    "_posixsubprocess",
    "distutils",
    "pip",
    "cloudpickle",
    "jsonpickle",
    "pexpect",
    "sh",
    "plumbum",
    "invoke",
    "fabric",
    "paramiko",
    "requests",
    "httpx",
    "urllib3",
    "aiohttp",
)
_DANGEROUS_CALLABLES = (
    "eval",
    "exec",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "open",
    "input",
    "breakpoint",
    "torch.load",
    "numpy.load",
    "joblib.load",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "torch.hub.load",
    "pandas.read_pickle",
)


# Modules that, reached as an attribute anywhere in a dotted path, still run code:
# Hydra's _locate imports the first segment and getattr()s the rest, so
# ``logging.os.system`` is os.system (issue #16).
_DANGEROUS_ATTRIBUTE_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "__builtins__",
        "__builtin__",
        "importlib",
        "pickle",
        "_pickle",
        "cPickle",
        "dill",
        "marshal",
        "runpy",
        "shutil",
        "socket",
        "pty",
        "ctypes",
        "sys",
    ]
)
# Last segments that run code or load pickles whatever module they are found in.
_DANGEROUS_LAST = frozenset(
    ["system", "popen", "eval", "exec", "execfile", "__import__", "import_module", "run_path"]
)
# Loaders that unpickle, and Hydra/OmegaConf entry points that turn a string into a
# call: a target naming them runs whatever its arguments name.
_DANGEROUS_PREFIXES = (
    "torch.serialization.load",
    "torch.serialization._load",
    "torch.serialization.pickle",
    "torch.jit.load",
    "torch.package",
    "torch.hub",
    "numpy.lib.npyio.load",
    "numpy.load",
    "joblib.numpy_pickle.load",
    "joblib.load",
    "pandas.io.pickle",
    "hydra.utils.instantiate",
    "hydra.utils.call",
    "hydra.utils.get_method",
    "hydra.utils.get_class",
    "hydra.utils.get_object",
    "hydra.utils.get_static_method",
    "hydra._internal.utils._locate",
    "omegaconf.OmegaConf.register_new_resolver",
    "operator.attrgetter",
    "operator.methodcaller",
    "types.FunctionType",
    "types.CodeType",
    "code.InteractiveInterpreter",
    # Issue #16: callables outside the usual modules that still run a command or
    # load native code: pydoc's pagers hand their `cmd` to a shell; a C++
    # extension is compiled from the config's source text and loaded; torch's
    # and numpy's library loaders dlopen a shared object (its constructors run).
    "pydoc.pipepager",
    "pydoc.tempfilepager",
    "pydoc.pager",
    "torch.utils.cpp_extension",
    "torch.ops.load_library",
    "torch.classes.load_library",
    "torch._ops.load_library",
    "numpy.ctypeslib.load_library",
    "pkgutil.resolve_name",
    # Issue #16 (red-team pass): the frameworks' own name-to-callable lookups
    # and instantiators, like hydra.utils.get_method above: the target is the
    # framework, the callable that runs is a plain string argument
    # (`_component_: torchtune.config._utils._get_component_from_path`,
    # `path: pickle.loads`).
    "torchtune.config._utils",
    "torchtune.config._instantiate",
    "torchtune.config.instantiate",
    "pydoc.locate",
    "jsonargparse.typing.import_object",
    "jsonargparse._util.import_object",
    "lightning_utilities.core.imports",
    "transformers.dynamic_module_utils",
    "imp",
    "zipimport",
    # Session 27: Keras' loaders run a saved Lambda layer's code; psutil's Popen is
    # subprocess's; RPC runs a function on another worker; the hub's uploads send
    # a folder (the checkpoints) to a repository the config names.
    "keras.models.load_model",
    "keras.saving.load_model",
    "tensorflow.keras.models.load_model",
    "tf_keras.models.load_model",
    "psutil.Popen",
    "torch.distributed.rpc",
    *(
        f"huggingface_hub.{where}{fn}"
        for where in ("", "hf_api.", "HfApi.", "hf_api.HfApi.")
        for fn in ("upload_file", "upload_folder", "upload_large_folder", "create_commit")
    ),
)


# What a config builds from the standard library: values and containers. Any
# other standard-library target is reported (session 27 red team:
# `logging.config.fileConfig` evals its .ini's `args`, `urllib.request.urlretrieve`
# writes a download over `~/.bashrc`, `http.client`, `smtplib`, `ftplib` and
# `xmlrpc` send data out); no target of 157 distinct ones in real configs
# names the standard library at all (docs/security/false-positives.md).
_STDLIB_DATA_MODULES = frozenset(
    ["math", "cmath", "statistics", "fractions", "decimal", "numbers", "datetime"]
    + ["zoneinfo", "collections", "enum", "ipaddress", "uuid"]
)
_STDLIB_DATA = frozenset(
    ["functools.partial", "types.SimpleNamespace", "argparse.Namespace", "re.compile"]
    + ["contextlib.nullcontext", "random.Random", "io.StringIO", "io.BytesIO"]
    + ["pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath"]
    + ["logging.getLogger", "logging.Formatter", "logging.Filter", "logging.StreamHandler"]
    + ["logging.NullHandler", "logging.FileHandler", "logging.handlers.RotatingFileHandler"]
    + ["logging.handlers.TimedRotatingFileHandler", "logging.handlers.WatchedFileHandler"]
)


# Third-party modules that only re-export the standard library under other
# names (session 28 red team: `six.moves.urllib.request.urlretrieve` is
# urllib's): a target there is judged as the name it maps to, and a renamed
# module (`http_client`, `urllib_parse`, `reload_module`) is the standard
# library too. None of 157 distinct real targets names either.
_STDLIB_REEXPORTS = ("six.moves.", "future.moves.")


def _stdlib_target(target: str) -> bool:
    """A ``_target_`` into the standard library that is not a value or container
    type: nothing a training config builds, everything an insider reaches for."""
    t = target.strip()
    for prefix in _STDLIB_REEXPORTS:
        if t.startswith(prefix):
            rest = t[len(prefix) :]
            return rest.split(".", 1)[0] not in sys.stdlib_module_names or _stdlib_target(rest)
    top = t.split(".", 1)[0]
    if top not in sys.stdlib_module_names:
        return False
    # A private helper of a data module is not data: `typing._eval_type` evals a
    # ForwardRef's text (typing is left out for that reason too).
    if any(seg.startswith("_") for seg in t.split(".")[1:]):
        return True
    return top not in _STDLIB_DATA_MODULES and t not in _STDLIB_DATA


_SENDERS = ("requests", "httpx", "urllib3", "aiohttp", "paramiko", "huggingface_hub")


def _effect(target: str) -> str:
    """What the message says the target does: a sender is exfiltration, not code."""
    if target.strip().split(".", 1)[0] in _SENDERS:
        return "send data to another host"
    return "run arbitrary code"


def _dangerous_target(target: str) -> bool:
    t = target.strip()
    if t in _DANGEROUS_CALLABLES or t in _DANGEROUS_MODULES:
        return True
    if t.split(".", 1)[0] in _DANGEROUS_MODULES or any(
        t.startswith(c + ".") for c in _DANGEROUS_CALLABLES
    ):
        return True
    segments = [seg.strip() for seg in t.split(".")]
    if any(seg in _DANGEROUS_ATTRIBUTE_MODULES for seg in segments[1:]):
        return True
    if len(segments) > 1 and segments[-1] in _DANGEROUS_LAST:
        return True
    return any(t == p or t.startswith(p + ".") for p in _DANGEROUS_PREFIXES)


# Keys whose value names a class or function that instantiating the config calls:
# Hydra/OmegaConf, torchtune's _component_ (issue #16), LightningCLI class_path.
_TARGET_KEYS = ("_target_", "_partial_target_", "_component_", "target", "class_path")
# Resolver names that evaluate their argument as code in the projects that register
# them (``OmegaConf.register_new_resolver("eval", eval)`` is a common idiom).
_CODE_RESOLVERS = frozenset(
    ["eval", "exec", "python", "py", "pyeval", "lambda", "sh", "shell", "cmd", "system"]
)
# What an eval resolver may compute without a finding: arithmetic on numbers and
# interpolations, and a few pure builtins (``${eval:'max(1, ${n} // 2)'}``).
_ARITH = re.compile(r"[\s\d.+\-*/%(),<>=!]*")
_ARITH_NAMES = frozenset(
    ["int", "float", "round", "min", "max", "abs", "sum", "len", "str", "bool", "pow"]
    + ["True", "False", "None", "and", "or", "not", "if", "else", "e"]
)
_CODE_IN_ARG = re.compile(
    r"__\w+__|\b(?:eval|exec|compile|getattr|setattr|open|import_module|system|popen|"
    r"subprocess|os\.|sys\.|builtins|pickle|marshal|lambda)\b"
)
# A resolver registered in the change whose function evaluates or calls out.
_REGISTER_RESOLVER = re.compile(
    r"register_new_resolver\(\s*(?:name\s*=\s*)?[rbu]?[\"']([^\"']+)[\"']\s*,\s*([^\n]{0,300})"
)
_RESOLVER_BODY_CODE = re.compile(
    r"\b(?:eval|exec|compile|__import__|getattr|import_module|system|popen|subprocess|"
    r"run_path|_locate|get_method|get_class|instantiate|literal_eval)\b"
)


def _code_resolvers(ctx: Context) -> frozenset[str]:
    """Resolver names the change registers with a function that evaluates or calls
    out (``register_new_resolver("calc", lambda s: eval(s))``, or a ``def`` of the
    same file named there whose body does)."""
    names = set(_CODE_RESOLVERS)
    for f in ctx.files:
        if f.new_path is None or not f.new_path.endswith((".py", ".pyw", ".ipynb")):
            continue
        text = _python_text(ctx, f, f.new_path)
        if not text or "register_new_resolver" not in text:
            continue
        for m in _REGISTER_RESOLVER.finditer(text):
            if _RESOLVER_BODY_CODE.search(m.group(2)) or _named_body_code(text, m.group(2)):
                names.add(m.group(1))
    return frozenset(names)


_RESOLVER_FN_NAME = re.compile(r"\s*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\s*[,)]")


def _named_body_code(text: str, rest: str) -> bool:
    """The resolver function is a name (issue #16, red-team pass: ``_git`` runs
    ``subprocess.run(["git", *args])``): read the body of that ``def`` in the same
    file, up to the next top-level statement."""
    m = _RESOLVER_FN_NAME.match(rest)
    if m is None:
        return False
    d = re.search(rf"^([ \t]*)def\s+{re.escape(m.group(1))}\s*\(", text, re.MULTILINE)
    if d is None:
        return False
    indent = len(d.group(1))
    lines = text[d.end() :].splitlines()
    body = lines[:1]  # the rest of the def line: `def f(s): return eval(s)`
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return _RESOLVER_BODY_CODE.search("\n".join(body)) is not None


def _python_text(ctx: Context, f: ChangedFile, path: str) -> str | None:
    """The text CPython runs (issue #16): a PEP 263 cookie obeyed, so a
    `# coding: utf-7` file cannot spell `register_new_resolver` unseen; NUL
    bytes do not hide it either (Python before 3.12 cuts only that line)."""
    if path.endswith(".ipynb"):
        return ctx.change.new_text(f)
    data = ctx.change.read(f.new_oid) if (f.new_mode or "").startswith("100") else None
    if not data:
        return None
    from traingate.checks.sabotage.source import _python

    return _python(data).text


def _arithmetic(arg: str) -> bool:
    body = arg.strip().strip("'\"")
    while "${" in body:  # interpolations are values, judged on their own keys
        start = body.find("${")
        end = interpolation_end(body, start)
        if end == -1:
            return False
        body = body[:start] + "0" + body[end:]
    words = re.findall(r"[A-Za-z_]\w*", body)
    rest = re.sub(r"[A-Za-z_]\w*", "", body)
    return all(w in _ARITH_NAMES for w in words) and _ARITH.fullmatch(rest) is not None


# The standard library's handlers that send each record to another host.
_NETWORK_HANDLERS = frozenset(
    f"logging.handlers.{h}"
    for h in ("HTTPHandler", "SocketHandler", "DatagramHandler", "SMTPHandler")
)
_LOGGING_SECTIONS = frozenset(["handlers", "filters", "formatters"])


def _logging_section(path: tuple[str | int, ...]) -> bool:
    """``handlers.<name>.class`` and its like: a dictConfig entry's own key."""
    return len(path) >= 3 and path[-3] in _LOGGING_SECTIONS


def _log_egress(f: ChangedFile, line: int | None, col: int | None, where: str, e: _Eff) -> Finding:
    return _finding(
        f,
        "config-log-egress",
        line,
        col,
        f"{where} = {e.text.strip()!r}{_via(e)}: every record of the loggers it is attached "
        "to is sent to another host",
        "log to files or the console and let the cluster's log shipping collect them",
    )


def _truth(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() not in ("true", "1", "yes", "on"):
        return f" = {value!r}, a non-empty string, which from_pretrained takes as true"
    return ": true"


def _builtin_keys(f: ChangedFile, name: str, effs: list[_Eff]) -> Iterator[Finding]:
    auto_map_seen = False
    for e in effs:
        c = e.change
        if not c.path:
            continue
        key = str(c.path[-1])
        where = format_path(c.path)
        if is_trust_key(key) and (truthy(e.value) or e.unknown):
            maybe = f" may be true: {e.unknown[0]}" if e.unknown else _truth(e.value)
            yield _finding(
                f,
                "config-trust-remote-code",
                c.line,
                c.column,
                f"{where}{maybe}{_via(e)}; it runs Python code shipped with the model repository",
                "keep trust_remote_code false; vendor and review the model code instead",
            )
        elif key in ("class", "()") and isinstance(c.new, str) and _logging_section(c.path):
            # A logging.config.dictConfig file instantiates `class` (and calls a
            # `()` factory) with the other keys as arguments, like a _target_
            # (issue #16, red-team pass: logging_yaml_http_handler).
            if _dangerous_target(e.text):
                yield _finding(
                    f,
                    "config-dangerous-target",
                    c.line,
                    c.column,
                    f"{where} = {e.text!r}{_via(e)}: logging.config.dictConfig calls it, so "
                    "loading this logging config runs arbitrary code",
                    "name a logging.Handler/Filter/Formatter class of your own or the standard library",
                )
            elif e.text.strip() in _NETWORK_HANDLERS:
                yield _log_egress(f, c.line, c.column, where, e)
        elif key in _TARGET_KEYS and isinstance(c.new, str):
            if key not in ("_target_", "_component_") and "." not in e.text and not e.unknown:
                continue
            if not e.unknown and e.text.strip() in _NETWORK_HANDLERS:
                yield _log_egress(f, c.line, c.column, where, e)
                continue
            if e.unknown:
                yield _finding(
                    f,
                    "config-untrusted-target",
                    c.line,
                    c.column,
                    f"{where} = {c.new!r}: {e.unknown[0]}, so what instantiating this config "
                    "calls is not in the change under review",
                    "write the target as a literal dotted path to your own class",
                )
            elif _dangerous_target(e.text):
                yield _finding(
                    f,
                    "config-dangerous-target",
                    c.line,
                    c.column,
                    f"{where} = {e.text!r}{_via(e)} makes instantiating this config "
                    f"{_effect(e.text)}",
                    "point _target_ at your own classes; see checks.config target_allow",
                )
            elif _stdlib_target(e.text):
                yield _finding(
                    f,
                    "config-dangerous-target",
                    c.line,
                    c.column,
                    f"{where} = {e.text!r}{_via(e)} is a standard-library callable, not a "
                    "value type: instantiating this config runs it (files, network, code)",
                    "point _target_ at your own classes; see checks.config target_allow",
                )
        elif _auto_map(name, c.path):
            remote = isinstance(c.new, str) and "--" in c.new and c.kind != "removed"
            if not remote and (auto_map_seen or c.kind != "added"):
                continue
            auto_map_seen = True
            yield _finding(
                f,
                "config-auto-map",
                c.line,
                c.column,
                (
                    f"{where} = {c.new!r}: transformers downloads and runs code from another "
                    f"hub repository ({str(c.new).split('--', 1)[0]})"
                    if remote
                    else f"{where} added: transformers will import custom code from the repository"
                ),
                "remove auto_map, or review the referenced modules and approve",
            )


# Hub files whose `auto_map` (and a model config's `custom_pipelines`) names code
# transformers imports; a `repo--module.Class` value fetches it from another
# repository (session 27 red team: changing a value, not adding the key).
_AUTO_MAP_FILES = frozenset(
    ["config.json", "tokenizer_config.json", "processor_config.json"]
    + ["preprocessor_config.json", "video_preprocessor_config.json"]
)


def _auto_map(name: str, path: tuple[str | int, ...]) -> bool:
    return (
        bool(path)
        and ("auto_map" in path or path[0] == "custom_pipelines")
        and posixpath.basename(name) in _AUTO_MAP_FILES
    )


def _resolver_code(
    f: ChangedFile, effs: list[_Eff], code_resolvers: frozenset[str]
) -> Iterator[Finding]:
    """Resolvers that run code: an eval-like one with more than arithmetic, or
    code handed to any custom resolver (issue #16)."""
    for e in effs:
        for name, arg in e.resolvers:
            if name.startswith("oc.") or name in ("hydra", "now"):
                continue
            evaluates = name in code_resolvers and not _arithmetic(arg)
            if not evaluates and not _CODE_IN_ARG.search(arg):
                continue
            how = (
                "a resolver that evaluates its argument"
                if name in code_resolvers
                else "code passed to a custom resolver"
            )
            yield _finding(
                f,
                "config-resolver-code",
                e.change.line,
                e.change.column,
                f"{format_path(e.change.path)}: ${{{name}:{arg[:80]}}} is {how}; "
                "resolving this config runs it",
                "compute the value in code, or keep resolver arguments to plain arithmetic",
            )
            break
