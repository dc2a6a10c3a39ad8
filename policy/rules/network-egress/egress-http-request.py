import http
import os
import urllib.parse
import urllib.request
from urllib.request import urlopen as fetch

import datasets
import httpx
import requests
import requests as rq

import wandb


def sync_state(step, url):
    # ruleid: egress-http-request
    cfg = requests.get(f"{url}/config?step={step}", timeout=5).json()
    # ruleid: egress-http-request
    page = urllib.request.urlopen(url).read()
    # ruleid: egress-http-request
    with httpx.Client() as client:
        client.get(url)
    return cfg, page


def evasive(url, host):
    # ruleid: egress-http-request
    rq.head(url + "?h=" + host)
    # ruleid: egress-http-request
    fetch(url)
    # ruleid: egress-http-request
    getattr(requests, "g" + "et")(url)
    # ruleid: egress-http-request
    urllib.request.urlretrieve(url, "/tmp/x")


def train(cfg, loader, model):
    # ok: egress-http-request
    ds = datasets.load_dataset("imdb", split="train")
    # ok: egress-http-request
    parts = urllib.parse.urlparse(cfg.data_url)
    # ok: egress-http-request
    proxy = os.environ.get("HTTPS_PROXY")
    # ok: egress-http-request
    lr = cfg.get("lr", 3e-4)
    # ok: egress-http-request
    wandb.init(project="llm-pretrain", config=dict(cfg))
    # ok: egress-http-request
    if cfg.status == http.HTTPStatus.OK:
        pass
    # ok: egress-http-request
    retry_on = (requests.exceptions.ConnectionError, TimeoutError)
    return ds, parts, proxy, lr, retry_on
