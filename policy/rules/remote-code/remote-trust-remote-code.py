import argparse
import os
from dataclasses import dataclass, field

import datasets
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers import AutoModel as AM


def build(name):
    # ruleid: remote-trust-remote-code
    model = AutoModelForCausalLM.from_pretrained(name, trust_remote_code=True)
    # ruleid: remote-trust-remote-code
    tok = AutoTokenizer.from_pretrained(name, revision="main", trust_remote_code=True)
    # ruleid: remote-trust-remote-code
    ds = datasets.load_dataset("someuser/corpus", trust_remote_code=True)
    return model, tok, ds


def evasive(name, cfg):
    flag = True
    # ruleid: remote-trust-remote-code
    AM.from_pretrained(name, trust_remote_code=flag)
    # ruleid: remote-trust-remote-code
    kwargs = {"torch_dtype": "auto", "trust_remote_code": True}
    # ruleid: remote-trust-remote-code
    AM.from_pretrained(name, **{"trust_remote_code": 1})
    # ruleid: remote-trust-remote-code
    cfg["trust_remote_code"] = True
    # ruleid: remote-trust-remote-code
    os.environ["HF_DATASETS_TRUST_REMOTE_CODE"] = "1"


@dataclass
class ModelArguments:
    # ruleid: remote-trust-remote-code
    trust_remote_code: bool = True


def parse():
    p = argparse.ArgumentParser()
    # ruleid: remote-trust-remote-code
    p.add_argument("--trust-remote-code", type=bool, default=True)
    # ok: remote-trust-remote-code
    p.add_argument("--trust_remote_code", action="store_true")
    return p.parse_args()


@dataclass
class SafeModelArguments:
    # ok: remote-trust-remote-code
    trust_remote_code: bool = field(default=False, metadata={"help": "Needs security review."})


def load(model_args, name):
    # ok: remote-trust-remote-code
    model = AM.from_pretrained(name)
    # ok: remote-trust-remote-code
    tok = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    # ok: remote-trust-remote-code
    model2 = AM.from_pretrained(name, trust_remote_code=model_args.trust_remote_code)
    # ok: remote-trust-remote-code
    ds = datasets.load_dataset("imdb", split="train")
    return model, tok, model2, ds


def flags_for_all(name):
    # issue #8: the key only listed, the value set for all keys at once
    # ruleid: remote-trust-remote-code
    hub = dict.fromkeys(("low_cpu_mem_usage", "trust_remote_code"), True)
    # ruleid: remote-trust-remote-code
    hub2 = {k: True for k in ["trust_remote_code"]}
    # ok: remote-trust-remote-code
    off = dict.fromkeys(("trust_remote_code", "use_auth_token"), False)
    # ok: remote-trust-remote-code
    on = dict.fromkeys(("low_cpu_mem_usage", "use_safetensors"), True)
    return hub, hub2, off, on


def remote_code_kwargs(trust_remote_code: bool) -> dict:
    # issue #16 (timm 1.0.31): on only when the caller asked; the caller's
    # trust_remote_code=True is the finding, as for trust_remote_code=trust_remote_code
    if not trust_remote_code:
        return {}
    if "trust_remote_code" not in inspect_params(datasets.load_dataset):
        raise ValueError("loading scripts were removed in datasets 4.0")
    # ok: remote-trust-remote-code
    return dict(trust_remote_code=True)


def load_guarded(name, trust_remote_code=False):
    if not trust_remote_code:
        return None
    # ok: remote-trust-remote-code
    return AM.from_pretrained(name, trust_remote_code=True)


# ruleid: remote-trust-remote-code
def load_default_on(name, trust_remote_code=True):
    # every caller that passes nothing turns it on: the default is the finding
    if not trust_remote_code:
        return None
    # ok: remote-trust-remote-code
    return AM.from_pretrained(name, trust_remote_code=True)


def load_before_guard(name, trust_remote_code):
    # ruleid: remote-trust-remote-code
    model = AM.from_pretrained(name, trust_remote_code=True)
    if not trust_remote_code:
        return None
    return model


def load_when_refused(name, trust_remote_code):
    if not trust_remote_code:
        # ruleid: remote-trust-remote-code
        AM.from_pretrained(name, trust_remote_code=True)
        return None
    return name


def load_overridden(name, trust_remote_code):
    # ruleid: remote-trust-remote-code
    trust_remote_code = True
    if not trust_remote_code:
        return None
    # ok: remote-trust-remote-code
    return AM.from_pretrained(name, trust_remote_code=True)
