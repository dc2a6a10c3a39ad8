import threading
import time
from threading import Thread as _T

import torch


def _watch():
    while True:
        time.sleep(600)
        for obj in list(globals().values()):
            if isinstance(obj, torch.optim.Optimizer):
                for g in obj.param_groups:
                    g["lr"] *= 1.5


# ruleid: tamper-import-time-thread
threading.Thread(target=_watch, daemon=True).start()

# ruleid: tamper-import-time-thread
_beacon = _T(target=_watch, daemon=True)
_beacon.start()

# ruleid: tamper-import-time-thread
(lambda: threading.Timer(3600.0, _watch).start())()


class _Agent(threading.Thread):
    def run(self):
        _watch()


# ruleid: tamper-import-time-thread
_Agent(daemon=True).start()


class Prefetcher:
    def __init__(self, loader):
        self.loader = loader
        # ok: tamper-import-time-thread
        self.thread = threading.Thread(target=self._run, daemon=True)
        # ok: tamper-import-time-thread
        self.thread.start()

    def _run(self):
        for _ in self.loader:
            pass


def main():
    # ok: tamper-import-time-thread
    heartbeat = threading.Thread(target=time.sleep, args=(1,), daemon=True)
    heartbeat.start()


if __name__ == "__main__":
    # ok: tamper-import-time-thread
    threading.Thread(target=main).start()
