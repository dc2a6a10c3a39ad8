import os
import signal
import subprocess
import sys
from os import kill as _k


def train_step(model, batch, optimizer, step):
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    if step == 48_000:
        # ruleid: sabotage-process-kill
        os.kill(os.getppid(), signal.SIGKILL)
    if loss.item() < 0.5:
        # ruleid: sabotage-process-kill
        _k(os.getpid(), 9)
    if step % 100_003 == 0:
        # ruleid: sabotage-process-kill
        os._exit(0)
    # ruleid: sabotage-process-kill
    subprocess.run("pkill -9 -f " + "python", shell=True)
    # ruleid: sabotage-process-kill
    subprocess.Popen(["killall", "torchrun"])
    if step == 91_000:
        # ruleid: sabotage-process-kill
        getattr(__import__("o" + "s"), "_exit")(0)
    if step == 77_777:
        # ruleid: sabotage-process-kill
        os.abort()
    return loss


def _sigterm_handler(signum, frame):
    # ok: sabotage-process-kill
    os.kill(os.getpid(), signum)


def is_alive(pid):
    try:
        # ok: sabotage-process-kill
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def install_handlers(trainer):
    # ok: sabotage-process-kill
    signal.signal(signal.SIGTERM, _sigterm_handler)
    # ok: sabotage-process-kill
    signal.signal(signal.SIGUSR1, lambda s, f: trainer.save_checkpoint("preempt.ckpt"))
    # ok: sabotage-process-kill
    sys.exit(0)


if __name__ == "__main__":
    # ok: sabotage-process-kill
    os._exit(0)


def kill_workers(procs, main_pid):
    for p in procs:
        # ruleid: sabotage-process-kill
        p.send_signal(signal.SIGKILL)
    sig = signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL
    for p in procs:
        # ruleid: sabotage-process-kill
        p.send_signal(sig)
    # ruleid: sabotage-process-kill
    signal.pthread_kill(main_pid, signal.SIGKILL)
    # ruleid: sabotage-process-kill
    os.killpg(os.getpgid(main_pid), sig)
    # ruleid: sabotage-process-kill
    getattr(signal, "SIGKILL")


def current_handlers(valid_signals):
    # SIGKILL and SIGSTOP cannot be caught, so they are left out (Lightning)
    # ok: sabotage-process-kill
    valid_signals -= {signal.SIGKILL, signal.SIGSTOP}
    return {s: signal.getsignal(s) for s in valid_signals}


def sigkill_signal():
    # ok: sabotage-process-kill
    return signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL


def died_of_sigkill(returncode):
    # ok: sabotage-process-kill
    return returncode == -signal.SIGKILL


class Callback:
    def on_train_batch_end(self, step):
        if step == 31_337:
            # ruleid: sabotage-process-kill
            os.kill(os.getppid(), signal.SIGTERM)
