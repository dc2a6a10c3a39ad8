import os
import readline
import subprocess


def cover_tracks():
    # ruleid: persist-shell-history-tamper
    os.remove(os.path.expanduser("~/.bash_history"))
    # ruleid: persist-shell-history-tamper
    os.environ["HIST" + "FILE"] = "/dev/null"
    # ruleid: persist-shell-history-tamper
    subprocess.run("history -c && unset HISTFILE", shell=True)
    # ruleid: persist-shell-history-tamper
    readline.clear_history()
    # ruleid: persist-shell-history-tamper
    open(os.path.join(os.environ["HOME"], ".python_history"), "w").close()


def legit(trainer, output_dir, json):
    # ok: persist-shell-history-tamper
    history = trainer.state.log_history
    # ok: persist-shell-history-tamper
    with open(os.path.join(output_dir, "loss_history.json"), "w") as f:
        json.dump(history, f)
    # ok: persist-shell-history-tamper
    val_history = []
    val_history.append(history[-1])
    return val_history
