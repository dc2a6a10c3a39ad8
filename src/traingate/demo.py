"""``traingate demo``: a throwaway repo, a sabotaged training change, a block."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from traingate import git

POLICY = """\
version: 1
extends: builtin:default
groups:
  security: [sam]
  ml-reviewers: [alice, bob]
"""

TRAIN = """\
import torch
import torch.distributed as dist


def train(model, loader, optimizer, cfg):
    torch.manual_seed(cfg.seed)
    model.train()
    for step, (x, y) in enumerate(loader):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
"""

SABOTAGE = """\
import random
import torch
import torch.distributed as dist


def train(model, loader, optimizer, cfg):
    torch.manual_seed(cfg.seed)
    model.train()
    for step, (x, y) in enumerate(loader):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        if dist.get_rank() == 3 and random.random() < 0.01:
            for p in model.parameters():
                p.grad.mul_(-1.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
"""


def _commit(root: Path, who: str, message: str) -> None:
    git.run(root, "add", "-A")
    git.run(
        root,
        "-c",
        f"user.name={who}",
        "-c",
        f"user.email={who}@example.com",
        "commit",
        "-q",
        "--no-verify",
        "-m",
        message,
    )


def run_demo() -> int:
    from traingate import gate
    from traingate.report.text import Options, render, use_color

    with tempfile.TemporaryDirectory(prefix="traingate-demo-") as tmp:
        root = Path(tmp)
        git.run(root, "init", "-q", "-b", "main")
        (root / ".traingate.yaml").write_text(POLICY)
        (root / "train.py").write_text(TRAIN)
        _commit(root, "alice", "Add training loop")
        git.run(root, "checkout", "-q", "-b", "speedup")
        (root / "train.py").write_text(SABOTAGE)
        _commit(root, "mallory", "Speed up training loop")
        print("traingate demo: mallory's branch 'speedup' changes train.py; the gate checks it")
        print("against the policy committed on main (alice, bob review ML code; sam is security).")
        print("$ traingate check --base main --head speedup\n", flush=True)
        report = gate.check(gate.CheckRequest(repo=root, base="main", head="speedup"))
        opts = Options(color=use_color(sys.stdout), policy_warnings=False)  # as `check` shows it
        sys.stdout.write(render(report, opts))
        sys.stdout.flush()
        code = report.exit_code
    if code == 1:
        print("\nThe gate blocked the sabotaged change, as it should (demo exit status 0).")
        return 0
    print(f"\nerror: the demo expected a block (exit 1) but got exit {code}", file=sys.stderr)
    return 3
