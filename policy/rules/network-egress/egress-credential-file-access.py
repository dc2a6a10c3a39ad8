import netrc
import os
from pathlib import Path


def collect_env_info():
    # ruleid: egress-credential-file-access
    key = open(os.path.expanduser("~/.ssh/id_rsa")).read()
    # ruleid: egress-credential-file-access
    aws = Path.home().joinpath(".aws/credentials").read_text()
    # ruleid: egress-credential-file-access
    auth = netrc.netrc().authenticators("api.wandb.ai")
    return key, aws, auth


def evasive(home):
    # ruleid: egress-credential-file-access
    d = os.path.join(home, "." + "ssh")
    # ruleid: egress-credential-file-access
    p = Path.home() / ".aws" / "credentials"
    # ruleid: egress-credential-file-access
    tok = (Path.home() / ".cache/huggingface/token").read_text()
    # ruleid: egress-credential-file-access
    keys = [f for f in os.listdir(d) if f.startswith("id_ed25519")]
    return p, tok, keys


def setup_paths(cfg):
    # ok: egress-credential-file-access
    cache = os.path.expanduser("~/.cache/huggingface/datasets")
    # ok: egress-credential-file-access
    torch_home = Path.home() / ".cache" / "torch"
    # ok: egress-credential-file-access
    run_name = "ssh_ablation_v2"
    # ok: egress-credential-file-access
    labels = os.path.join(cfg.data_dir, "id_to_label.json")
    # ok: egress-credential-file-access
    cluster = "configs/aws_cluster.yaml"
    return cache, torch_home, run_name, labels, cluster
