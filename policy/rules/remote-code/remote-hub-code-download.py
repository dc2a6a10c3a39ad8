import importlib.util

import huggingface_hub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub import hf_hub_download as fetch


class PluginLoader:
    def __init__(self, repo_id):
        self.repo_id = repo_id
        self.path = None

    def _resolve(self):
        # ruleid: remote-hub-code-download
        self.path = hf_hub_download(repo_id=self.repo_id, filename="preprocess.py")

    def load(self):
        self._resolve()
        spec = importlib.util.spec_from_file_location("plugin", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def evasive(repo, stem):
    name = "collate" + ".py"
    # ruleid: remote-hub-code-download
    a = fetch(repo, name)
    # ruleid: remote-hub-code-download
    b = huggingface_hub.hf_hub_download(repo, filename="tools/augment.PY", revision="main")
    # ruleid: remote-hub-code-download
    c = HfApi().hf_hub_download(repo_id=repo, filename="hook.py")
    # ruleid: remote-hub-code-download
    d = snapshot_download(repo, allow_patterns=["*.json", "*.py"])
    # ruleid: remote-hub-code-download
    e = huggingface_hub.snapshot_download(repo_id=repo, allow_patterns="*.py")
    return a, b, c, d, e


def data_only(repo, revision):
    # ok: remote-hub-code-download
    cfg = hf_hub_download(repo_id=repo, filename="config.json", revision=revision)
    # ok: remote-hub-code-download
    weights = hf_hub_download(repo, "model.safetensors")
    # ok: remote-hub-code-download
    tok = fetch(repo, filename="tokenizer.model")
    # ok: remote-hub-code-download
    snap = snapshot_download(repo, allow_patterns=["*.json", "*.safetensors"])
    # ok: remote-hub-code-download
    readme = hf_hub_download(repo, "python_notes.txt")
    return cfg, weights, tok, snap, readme
