import http.client
import importlib
import json
import smtplib
import urllib.request

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
