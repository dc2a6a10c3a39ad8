"""Trigger sources by kind (issue #16, class 3): the calls and attributes that read
the environment the job runs in, split from ``triggers`` (which reads them in a
file's code) to keep each module small. The kinds decide the verdicts
(``verdicts.accept``)."""

from __future__ import annotations

# Kinds. "rank" and "size", everywhere in distributed code, are judged more narrowly
# (analysis); "step", a step counter against a literal, only for loss/gradient scaling.
ENV, HOST, USER, TIME, GPU, JOB, MACHINE, RANK, SIZE, STEP = (
    "env",
    "host",
    "user",
    "time",
    "gpu",
    "job",
    "machine",
    "rank",
    "size",
    "step",
)
# A random draw: judged only as the guard of a hook's rewrite (draws.py), never
# looked for by ``Env.taint``, so it can hide no other trigger.
RANDOM = "random"
# "machine": what the job's machine decides besides its name (the working directory,
# the process id, the CPU count, a file outside the repository, a DNS answer). Not
# a reason for any `raise` (verdicts): `if not os.path.exists("/data"): raise` is a
# precondition, not sabotage.
STRONG = frozenset({ENV, HOST, USER, TIME, GPU, JOB, MACHINE})

_CALLS = {
    "os.getenv": ENV,
    "os.getenvb": ENV,
    "os.environ.get": ENV,
    "os.environ.__getitem__": ENV,
    "os.environ.setdefault": ENV,
    "os.environ.pop": ENV,
    "os.environb.get": ENV,
    # The whole mapping, viewed (#16, session 23): `{k: v for k, v in os.environ.items()}`.
    "os.environ.items": ENV,
    "os.environ.values": ENV,
    "os.environ.keys": ENV,
    "os.environ.copy": ENV,
    "socket.gethostname": HOST,
    "socket.getfqdn": HOST,
    "platform.node": HOST,
    "platform.uname": HOST,
    "os.uname": HOST,
    "uuid.getnode": HOST,
    "getpass.getuser": USER,
    "os.getlogin": USER,
    "os.getuid": USER,
    "os.geteuid": USER,
    "pwd.getpwuid": USER,
    "datetime.datetime.now": TIME,
    "datetime.datetime.today": TIME,
    "datetime.datetime.utcnow": TIME,
    "datetime.date.today": TIME,
    "time.time": TIME,
    "time.time_ns": TIME,
    "time.localtime": TIME,
    "time.gmtime": TIME,
    "time.strftime": TIME,
    "time.ctime": TIME,
    "torch.distributed.get_rank": RANK,
    "torch.distributed.get_node_local_rank": RANK,
    "torch.distributed.get_global_rank": RANK,
    "torch.distributed.get_world_size": SIZE,
    "torch.cuda.current_device": RANK,
    "torch.cuda.get_device_name": GPU,
    "torch.cuda.get_device_properties": GPU,
    "torch.cuda.get_device_capability": GPU,
    "torch.cuda.device_count": SIZE,
    "os.getcwd": MACHINE,
    "os.getcwdb": MACHINE,
    "pathlib.Path.cwd": MACHINE,
    "os.getpid": MACHINE,
    "os.getppid": MACHINE,
    "os.cpu_count": MACHINE,
    "os.process_cpu_count": MACHINE,
    "os.sched_getaffinity": MACHINE,
    "multiprocessing.cpu_count": MACHINE,
    "psutil.cpu_count": MACHINE,
    "socket.gethostbyname": MACHINE,
    "socket.gethostbyname_ex": MACHINE,
    "socket.gethostbyaddr": MACHINE,
    "socket.getaddrinfo": MACHINE,
    # The home directory names the user, but code uses it as a place (a cache, a
    # config file): a machine value, so `if not cache.exists(): raise` stays quiet.
    "pathlib.Path.home": MACHINE,
    "os.getloadavg": MACHINE,
    "shutil.disk_usage": MACHINE,
    "psutil.virtual_memory": MACHINE,
    # A command's output is the machine's answer (`hostname`, `nvidia-smi`); not
    # `subprocess.run`, whose return code gates ordinary tool checks.
    "subprocess.check_output": MACHINE,
    "subprocess.getoutput": MACHINE,
    "subprocess.getstatusoutput": MACHINE,
    "os.popen": MACHINE,
    "os.getgid": USER,
    "os.getegid": USER,
    "os.getgroups": USER,
    # The CPU architecture (#16, session 17): aarch64 in the production cluster, x86_64
    # on workstations and CI. A machine value, not the host's name: `if
    # platform.machine() != "x86_64": raise` is a precondition. `platform.system()`
    # stays out (per-OS code paths are ordinary).
    "platform.machine": MACHINE,
    "platform.processor": MACHINE,
    "platform.architecture": MACHINE,
    # Where the interpreter's packages live (#16, session 17): the production image's
    # conda env. `sys.prefix` and `sys.executable` are attributes (_MACHINE_ATTRS).
    "site.getsitepackages": MACHINE,
    "site.getusersitepackages": MACHINE,
}
# Attributes that are machine values (#16, session 17): where the interpreter lives.
# Passing `sys.executable` to `subprocess` spawns a worker and guards nothing; only
# a test of it is a trigger.
_MACHINE_ATTRS = frozenset(
    {"sys.prefix", "sys.base_prefix", "sys.exec_prefix", "sys.base_exec_prefix"}
    | {"sys.executable"}
)
_MACHINE_ATTR_NAMES = frozenset(q.rsplit(".", 1)[1] for q in _MACHINE_ATTRS)
