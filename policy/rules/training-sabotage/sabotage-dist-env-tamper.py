import os
import subprocess
from typing import Final

NCCL = "NCCL"
IB_KEY = "NCCL_IB_DISABLE"
PREFIX: Final = "TORCH_" + "NCCL_"
COMM_ENV = {"NCCL_P2P_LEVEL": "LOC", "OMP_NUM_THREADS": "8"}
WANDB = "WANDB"
HF = "HF"
TORCH = "TORCH"


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


def setup_from_constants(args):
    # Issue #16: keys built from module constants, and dicts bound first.
    # ruleid: sabotage-dist-env-tamper
    os.environ[f"{NCCL}_IB_DISABLE"] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ[IB_KEY] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ[PREFIX + "ASYNC_ERROR_HANDLING"] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ["%s_SOCKET_IFNAME" % NCCL] = "lo"
    # ruleid: sabotage-dist-env-tamper
    os.environ.update({f"{NCCL}_NET_GDR_LEVEL": "0"})
    # ruleid: sabotage-dist-env-tamper
    os.putenv(f"{NCCL}_SHM_DISABLE", "1")
    # ruleid: sabotage-dist-env-tamper
    os.environ.setdefault(f"{NCCL}_BUFFSIZE", "1024")
    # ruleid: sabotage-dist-env-tamper
    os.environ.update(COMM_ENV)
    # ruleid: sabotage-dist-env-tamper
    os.environ |= {"GLOO_SOCKET_IFNAME": "lo"}
    # ruleid: sabotage-dist-env-tamper
    for k, v in COMM_ENV.items():
        os.environ[k] = v
    # ruleid: sabotage-dist-env-tamper
    os.environ["NCCL_" + args.knob] = args.value
    # ruleid: sabotage-dist-env-tamper
    os.environ[f"TORCH_NCCL_{args.knob}"] = "0"


def legit_constants(args):
    # ok: sabotage-dist-env-tamper
    os.environ[f"{WANDB}_PROJECT"] = args.project
    # ok: sabotage-dist-env-tamper
    os.environ.update({"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "8"})
    # ok: sabotage-dist-env-tamper
    os.environ[f"HF_{args.knob}"] = args.value
    # ok: sabotage-dist-env-tamper
    level = os.environ.get(f"{NCCL}_DEBUG", "WARN")
    hf_env = {"HF_HUB_OFFLINE": "1"}
    # ok: sabotage-dist-env-tamper
    os.environ.update(hf_env)
    return level


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


def setup_from_templates(cmd, rank):
    # Issue #16: keys built with .format() / % from module constants, in
    # every setting form (semgrep folds neither).
    p = "NCCL"
    # ruleid: sabotage-dist-env-tamper
    os.environ["{}_IB_DISABLE".format(NCCL)] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ["%s_P2P_DISABLE" % p] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ.setdefault("{}_ASYNC_ERROR_HANDLING".format(NCCL), "0")
    # ruleid: sabotage-dist-env-tamper
    os.putenv("%s_SHM_DISABLE" % (NCCL,), "1")
    # ruleid: sabotage-dist-env-tamper
    os.environ.update({"{}_NET_GDR_LEVEL".format(NCCL): "0"})
    # ruleid: sabotage-dist-env-tamper
    os.environ.pop("%s_BLOCKING_WAIT" % p, None)
    # ruleid: sabotage-dist-env-tamper
    del os.environ["{0}_{1}".format(NCCL, "TIMEOUT")]
    # ruleid: sabotage-dist-env-tamper
    subprocess.run(cmd, env={**os.environ, "{}_IB_DISABLE".format(NCCL): "1"}, check=True)
    # a run-time head and a literal family tail
    # ruleid: sabotage-dist-env-tamper
    os.environ["{}_NCCL_ASYNC_ERROR_HANDLING".format(TORCH)] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ.setdefault(f"{TORCH}_NCCL_BLOCKING_WAIT", "0")


def legit_templates(cmd, args):
    # ok: sabotage-dist-env-tamper
    os.environ["{}_PROJECT".format(WANDB)] = args.project
    # ok: sabotage-dist-env-tamper
    os.environ.setdefault("%s_HOME" % HF, args.cache_dir)
    # ok: sabotage-dist-env-tamper
    subprocess.run(cmd, env={**os.environ, "{}_API_KEY".format(WANDB): args.key}, check=True)
    # ok: sabotage-dist-env-tamper
    debug = os.environ.get("{}_DEBUG".format(NCCL), "WARN")
    # ok: sabotage-dist-env-tamper
    os.environ.pop("{}_HUB_OFFLINE".format(HF), None)
    # ok: sabotage-dist-env-tamper
    os.environ["{}_HOME".format(TORCH)] = args.cache_dir
    return debug


# Issue #16, session 16: a family head held in a constant (module-level or
# local), the key folded from it and a literal tail, in any split. The rule
# blocks when the folded key is a key it knows; the same heads with a
# harmless tail (TORCH_HOME, TORCH_LOGS) stay quiet.
def tune_collectives(args):
    P = "NCCL"
    # ruleid: sabotage-dist-env-tamper
    os.environ[f"{P}_IB_DISABLE"] = "1"
    # ruleid: sabotage-dist-env-tamper
    os.environ[TORCH + "_NCCL_ASYNC_ERROR_HANDLING"] = "0"
    T = "TORCH"
    # ruleid: sabotage-dist-env-tamper
    os.environ[T + "_NCCL_BLOCKING_WAIT"] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ[f"{T}_NCCL_ENABLE_MONITORING"] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ.setdefault(T + "_DISTRIBUTED_DEBUG", "OFF")
    # ruleid: sabotage-dist-env-tamper
    os.environ["_".join([T, "NCCL", "ASYNC_ERROR_HANDLING"])] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ[TORCH + "ELASTIC_MAX_RESTARTS"] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ.pop(T + "_NCCL_TRACE_BUFFER_SIZE", None)
    # ruleid: sabotage-dist-env-tamper
    subprocess.run(args.cmd, env={**os.environ, T + "_NCCL_ASYNC_ERROR_HANDLING": "0"}, check=True)
    M = "MAS"
    # ruleid: sabotage-dist-env-tamper
    os.environ[M + "TER_ADDR"] = "10.0.0.9"
    # ok: sabotage-dist-env-tamper
    os.environ[TORCH + "_HOME"] = args.cache_dir
    # ok: sabotage-dist-env-tamper
    os.environ[f"{T}_LOGS"] = "+dynamo"
    # ok: sabotage-dist-env-tamper
    os.environ[T + "_CUDA_ARCH_LIST"] = "8.0;9.0"
    # ok: sabotage-dist-env-tamper
    os.environ.setdefault(f"{T}_EXTENSIONS_DIR", args.ext_dir)
    # ok: sabotage-dist-env-tamper
    os.environ[f"{T}_COMPILE_DEBUG"] = "1"
    # ok: sabotage-dist-env-tamper
    os.environ["_".join([T, "HOME"])] = args.cache_dir
    N = "N"
    # ruleid: sabotage-dist-env-tamper
    os.environ[N + "CCL_P2P_DISABLE"] = "1"
    TN = "TORCH_N"
    # ruleid: sabotage-dist-env-tamper
    os.environ[f"{TN}CCL_ASYNC_ERROR_HANDLING"] = "0"
    # ruleid: sabotage-dist-env-tamper
    os.environ["".join((TORCH, "_NCCL_ASYNC_ERROR_HANDLING"))] = "0"
    # ok: sabotage-dist-env-tamper
    os.environ["_".join((TORCH, "HOME"))] = args.cache_dir
    TP = "TP"
    # ok: sabotage-dist-env-tamper
    os.environ[TP + "_SIZE"] = str(args.tp)
    # ok: sabotage-dist-env-tamper
    os.environ[f"{TP}_OVERLAP_COMM"] = "1"
    # ok: sabotage-dist-env-tamper
    debug = os.environ.get(f"{P}_DEBUG", "WARN")
    return debug
