import functools
import http.client
import importlib
import json
import smtplib
import urllib.request
from functools import partial

import aiohttp
import httpx
import requests
import requests as r
from requests import put as upload

import wandb


def report(metrics, ckpt_path):
    # ruleid: egress-http-upload
    requests.post("https://hooks.example.net/t", json=metrics, timeout=5)
    with open(ckpt_path, "rb") as f:
        # ruleid: egress-http-upload
        httpx.put("https://files.example.net/upload", content=f.read())
    # ruleid: egress-http-upload
    req = urllib.request.Request("https://collector.example.net", data=json.dumps(metrics).encode())
    # ruleid: egress-http-upload
    urllib.request.urlopen("https://collector.example.net", json.dumps(metrics).encode())
    return req


def evasive(url, blob):
    # ruleid: egress-http-upload
    r.patch(url, data=blob)
    # ruleid: egress-http-upload
    upload(url, data=blob)
    # ruleid: egress-http-upload
    getattr(requests, "po" + "st")(url, data=blob)
    # ruleid: egress-http-upload
    importlib.import_module("requests").post(url, data=blob)
    s = requests.Session()
    # ruleid: egress-http-upload
    s.post(url, files={"f": blob})
    conn = http.client.HTTPSConnection("collector.example.net")
    # ruleid: egress-http-upload
    conn.request("POST", "/x", body=blob)
    # ruleid: egress-http-upload
    requests.request("PUT", url, data=blob)
    # ruleid: egress-http-upload
    smtplib.SMTP("mail.example.net").sendmail("a@x", ["b@y"], blob)


async def push(url, blob):
    async with aiohttp.ClientSession() as session:
        # ruleid: egress-http-upload
        await session.post(url, data=blob)


def log_step(step, loss, queue, cache):
    # ok: egress-http-upload
    wandb.log({"loss": loss}, step=step)
    # ok: egress-http-upload
    queue.put((step, loss))
    # ok: egress-http-upload
    cache.post_process(step)
    # ok: egress-http-upload
    resp = requests.get("https://huggingface.co/api/models/gpt2", timeout=10)
    # ok: egress-http-upload
    req = urllib.request.Request("https://example.org/data.csv", data=None)
    return resp, req


def bound_uploads(url, blob):
    # ruleid: egress-http-upload
    push = functools.partial(requests.post, url, timeout=30)
    # ruleid: egress-http-upload
    send = partial(httpx.put, url)
    # ruleid: egress-http-upload
    amend = partial(upload, url)
    # ruleid: egress-http-upload
    generic = functools.partial(requests.request, "POST", url)
    s = requests.Session()
    # ruleid: egress-http-upload
    spush = functools.partial(s.patch, url)
    # ruleid: egress-http-upload
    dyn = functools.partial(getattr(requests, "post"), url)
    push(data=blob)
    send(content=blob)
    amend(data=blob)
    generic(data=blob)
    spush(data=blob)
    dyn(data=blob)


def bound_downloads(url, blob, queue):
    # ok: egress-http-upload
    fetch = functools.partial(requests.get, url, timeout=30)
    # ok: egress-http-upload
    head = partial(requests.request, "GET", url)
    # ok: egress-http-upload
    enqueue = functools.partial(queue.put, blob)
    # ok: egress-http-upload
    log = partial(wandb.log, {"blob": len(blob)})
    s = requests.Session()
    # ok: egress-http-upload
    sget = functools.partial(s.get, url)
    return fetch(), head(), enqueue(), log(), sget()
