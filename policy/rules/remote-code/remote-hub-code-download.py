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


# Session 27: transformers' remote-code loader called directly
from transformers.dynamic_module_utils import (  # noqa: E402
    get_cached_module_file,
    get_class_from_dynamic_module,
    resolve_trust_remote_code,
)


def reward_head_class(cfg):
    ref = cfg.get("head_ref", "rlhf-lab/reward-heads--modeling_heads.ScalarHead")
    # ruleid: remote-hub-code-download
    return get_class_from_dynamic_module(ref, cfg["base_model"])


def cached_module(repo):
    # ruleid: remote-hub-code-download
    return get_cached_module_file(repo, "modeling_moe.py")


def flag_set_here(cfg):
    # the attacker's way round the excuse: the flag is set by this code
    trust_remote_code = True
    if trust_remote_code:
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(cfg["ref"], cfg["repo"])


def flag_default_true(ref, repo, trust_remote_code=True):
    if trust_remote_code:
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(ref, repo)


def flag_or_anything(ref, repo, trust_remote_code, cfg):
    if trust_remote_code or cfg.get("custom_head"):
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(ref, repo)


def flag_negated(ref, repo, trust_remote_code):
    if not trust_remote_code:
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(ref, repo)


def auto_class(class_ref, repo, has_remote_code, trust_remote_code, explicit_local_code, **kwargs):
    # the library's own path: the caller's flag decides
    if has_remote_code and trust_remote_code and not explicit_local_code:
        # ok: remote-hub-code-download
        return get_class_from_dynamic_module(class_ref, repo, **kwargs)


def flag_compared(ref, repo, trust_remote_code):
    if trust_remote_code is not True:
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(ref, repo)


def flag_in_else(ref, repo, trust_remote_code):
    if trust_remote_code:
        pass
    else:
        # ruleid: remote-hub-code-download
        return get_class_from_dynamic_module(ref, repo)


def resolve_with_true(ref, repo):
    # the attacker's way round the resolve excuse: the flag is a literal
    resolve_trust_remote_code(True, repo, False, True)
    # ruleid: remote-hub-code-download
    return get_class_from_dynamic_module(ref, repo)


def nested_or(cfg, ref, repo, has_remote_code, trust_remote_code):
    # an enclosing test with `or` does not undo the guard around the call
    if cfg.get("tokenizer_class") is None or cfg.get("use_fast"):
        if has_remote_code and trust_remote_code:
            # ok: remote-hub-code-download
            return get_class_from_dynamic_module(ref, repo)


def custom_generate(repo, module_file, trust_remote_code, **kwargs):
    resolve_trust_remote_code(trust_remote_code, repo, has_local_code=False, has_remote_code=True)
    # ok: remote-hub-code-download
    return get_cached_module_file(repo, module_file=module_file, **kwargs)


def custom_pipeline(impl, model, trust_remote_code):
    if not trust_remote_code:
        raise ValueError("this pipeline runs code from the hub: pass trust_remote_code=True")
    # ok: remote-hub-code-download
    return get_class_from_dynamic_module(impl, model)
