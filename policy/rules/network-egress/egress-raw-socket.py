import asyncio
import importlib
import socket
import socket as so
from socket import create_connection as cc

import torch.distributed as dist


def beacon(host, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # ruleid: egress-raw-socket
    s.connect((host, 4444))
    # ruleid: egress-raw-socket
    s.sendall(payload)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # ruleid: egress-raw-socket
    u.sendto(payload, (host, 53))


def evasive(host, payload):
    # ruleid: egress-raw-socket
    cc((host, 443)).send(payload)
    # ruleid: egress-raw-socket
    getattr(so, "create_" + "connection")((host, 80))
    # ruleid: egress-raw-socket
    importlib.import_module("socket").create_connection((host, 22))
    with so.socket() as t:
        # ruleid: egress-raw-socket
        t.connect_ex((host, 8080))


async def tunnel(host):
    # ruleid: egress-raw-socket
    reader, writer = await asyncio.open_connection(host, 9000)
    return reader, writer


def find_free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # ok: egress-raw-socket
        s.bind(("", 0))
        # ok: egress-raw-socket
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s.getsockname()[1]


def init_distributed(rank, world_size):
    # ok: egress-raw-socket
    host = socket.gethostname()
    # ok: egress-raw-socket
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    # ok: egress-raw-socket
    fqdn = socket.getfqdn()
    return host, fqdn


def is_port_in_use(port=29500):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # ok: egress-raw-socket
        return s.connect_ex(("localhost", port)) == 0


def local_then_send(payload):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # ok: egress-raw-socket
        if s.connect_ex(("127.0.0.1", 2375)) == 0:
            # ruleid: egress-raw-socket
            s.sendall(payload)
        # ruleid: egress-raw-socket
        s.connect(("localhost", 2375))
        # ruleid: egress-raw-socket
        s.connect_ex(("localhost.example.net", 80))


# Issue #16: a multiprocessing connection pickles what it sends to an address.
import multiprocessing.connection as mpc
from multiprocessing.connection import Client as _DashClient
from multiprocessing.connection import Listener


def report_checkpoint(path, dashboard, state):
    # ruleid: egress-raw-socket
    with _DashClient(dashboard, authkey=b"dash") as conn:
        conn.send({"path": path, "state": state})
    # ruleid: egress-raw-socket
    mpc.Client(("metrics.internal", 6000)).send(state)


def serve_batches(queue, port):
    # ok: egress-raw-socket
    with Listener(("localhost", port), authkey=b"loader") as listener:
        with listener.accept() as conn:
            conn.send(queue.get())
