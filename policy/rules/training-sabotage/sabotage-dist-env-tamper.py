import os
import subprocess


def setup_dist(args):
    # ruleid: sabotage-dist-env-tamper
    os.environ["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "0"
    key = "NCCL_" + "P2P_DISABLE"
    # ruleid: sabotage-dist-env-tamper
    os.environ[key] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ.update({"NCCL_SOCKET_IFNAME": "lo", "NCCL_IB_DISABLE": "1"})
    # ruleid: sabotage-dist-env-tamper
    os.environ.update(NCCL_ALGO="Ring")
    # ruleid: sabotage-dist-env-tamper
    os.putenv("GLOO_SOCKET_IFNAME", "docker0")
    # ruleid: sabotage-dist-env-tamper
    os.environ.pop("NCCL_BLOCKING_WAIT", None)
    # ruleid: sabotage-dist-env-tamper
    os.environ["MASTER_ADDR"] = args.master_addr


def launch(cmd, args):
    # ruleid: sabotage-dist-env-tamper
    subprocess.run(cmd, env={**os.environ, "MASTER_PORT": "29501"}, check=True)


def legit(args):
    # ok: sabotage-dist-env-tamper
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    # ok: sabotage-dist-env-tamper
    os.environ["WANDB_PROJECT"] = args.project
    # ok: sabotage-dist-env-tamper
    master = os.environ.get("MASTER_ADDR", "localhost")
    # ok: sabotage-dist-env-tamper
    port = int(os.environ["MASTER_PORT"])
    # ok: sabotage-dist-env-tamper
    os.environ["CUDA_VISIBLE_DEVICES"] = args.gpus
    return master, port
