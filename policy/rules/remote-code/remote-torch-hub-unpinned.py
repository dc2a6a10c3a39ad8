import torch
import torch.hub as th
from torch.hub import load_state_dict_from_url


def build_backbone(cfg):
    # ruleid: remote-torch-hub-unpinned
    model = torch.hub.load("facebookresearch/dinov2", "dinov2_vits14")
    # ruleid: remote-torch-hub-unpinned
    midas = torch.hub.load("intel-isl/MiDaS:master", "MiDaS_small", trust_repo=True)
    # ruleid: remote-torch-hub-unpinned
    state = torch.hub.load_state_dict_from_url(cfg.weights_url)
    return model, midas, state


def evasive(repo, url):
    # ruleid: remote-torch-hub-unpinned
    th.load(repo, "model", force_reload=True)
    # ruleid: remote-torch-hub-unpinned
    load_state_dict_from_url(url, check_hash=True)
    # ruleid: remote-torch-hub-unpinned
    getattr(torch.hub, "lo" + "ad")("someone/models", "net")
    # ruleid: remote-torch-hub-unpinned
    torch.hub.list("someone/models")
    # ruleid: remote-torch-hub-unpinned
    torch.hub.download_url_to_file(url, "/tmp/model.pt")
    # issue #8: torch.hub reached with getattr, through a variable
    hub_load = getattr(getattr(torch, "hub"), "load")
    # ruleid: remote-torch-hub-unpinned
    hub_load("someone/models:main", "net")
    # ruleid: remote-torch-hub-unpinned
    getattr(torch, "hub").help("someone/models", "net")


def pinned_backbone(local_dir):
    # ok: remote-torch-hub-unpinned
    m = torch.hub.load(
        "pytorch/vision:5b2b3f4a6c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f", "resnet50", weights=None
    )
    # ok: remote-torch-hub-unpinned
    m2 = torch.hub.load(local_dir, "resnet50", source="local")
    # ok: remote-torch-hub-unpinned
    sd = load_state_dict_from_url(
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        check_hash=True,
        weights_only=True,
    )
    # ok: remote-torch-hub-unpinned
    torch.hub.download_url_to_file(
        "https://download.pytorch.org/models/resnet50-0676ba61.pth", "/data/r50.pth", hash_prefix="0676ba61"
    )
    # ok: remote-torch-hub-unpinned
    torch.hub.set_dir("/data/torch_hub")
    return m, m2, sd
