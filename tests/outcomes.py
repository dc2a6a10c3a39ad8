"""The four outcomes of a change (issue #18), built the same way for the
snapshot tests, the pre-commit framework tests and the docs examples.

- pass: nothing the policy cares about;
- approvals: a training-code edit and a finding that needs the security
  group: the hook passes and says which approvals the merge will need;
- warning: a finding the policy only warns about: never blocks;
- blocked: Trojan Source (unicode, outcome ``block``): fails everywhere.

EVERYTHING puts a blocking finding, an approval-requiring finding, a warning
and an exempted finding in one change.
"""

from __future__ import annotations

from .conftest import Repo

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
exemptions:
  - check: semgrep
    rule: exec-os-command
    paths: [tools/legacy_launch.py]
    reason: starts the cluster's vetted job wrapper (SEC-142)
    expires: 2099-12-31
    approved_by: sam
"""

TRAIN = "import torch\n\n\ndef step(model):\n    model.train()\n"

BASE = {".traingate.yaml": POLICY, "train.py": TRAIN, "README.md": "# project\n"}

RUN = "import os\n\n\ndef launch(host):\n    os.system('ssh ' + host + ' nvidia-smi')\n"
FETCH = (
    "import requests\n\n\ndef fetch_config(url):\n    return requests.get(url, timeout=5).json()\n"
)
BIDI = 'def is_admin(user):\n    return user == "guest"  # \u202e } \u2066 if admin\n'
LEGACY = "import os\n\n\ndef start(job):\n    os.system('/opt/cluster/bin/submit ' + job)\n"

CHANGES: dict[str, dict[str, str]] = {
    "pass": {"README.md": "# project\n\nTrain with `python train.py`.\n"},
    "approvals": {"train.py": TRAIN + "    return model\n", "tools/run.py": RUN},
    "warning": {"tools/fetch.py": FETCH},
    "blocked": {"utils/access.py": BIDI},
}
EXIT = {"pass": 0, "approvals": 0, "warning": 0, "blocked": 1}

EVERYTHING = {
    "utils/access.py": BIDI,
    "tools/run.py": RUN,
    "tools/fetch.py": FETCH,
    "tools/legacy_launch.py": LEGACY,
}


def base(repo: Repo) -> None:
    for rel, text in BASE.items():
        repo.write(rel, text)
    repo.commit("base")


def write(repo: Repo, files: dict[str, str]) -> None:
    for rel, text in files.items():
        repo.write(rel, text)
