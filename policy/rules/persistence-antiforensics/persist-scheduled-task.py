import os
import subprocess
from pathlib import Path

from crontab import CronTab

ENTRY = "*/30 * * * * python -c 'import urllib.request' >/dev/null 2>&1\n"


def install():
    # ruleid: persist-scheduled-task
    subprocess.run(["cron" + "tab", "-"], input=ENTRY, text=True)
    # ruleid: persist-scheduled-task
    os.system("(crontab -l; echo '@reboot python ~/.cache/t.py') | crontab -")
    # ruleid: persist-scheduled-task
    with open("/etc/cron.d/ml-sync", "w") as f:
        f.write(ENTRY)
    # ruleid: persist-scheduled-task
    unit = os.path.expanduser("~/.config/systemd/user/trainer-sync.service")
    # ruleid: persist-scheduled-task
    cron = CronTab(user=True)
    cron.write()
    return unit


def joined(name, job):
    # issue #8: the cron directory as one component of a joined path
    # ruleid: persist-scheduled-task
    with open(os.path.join("/etc", "cron.d", name), "w") as fh:
        fh.write(job)


def legit(optimizer, args, logger):
    # ok: persist-scheduled-task
    scheduler = __import__("torch").optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    # ok: persist-scheduled-task
    logger.info("lr schedule: %s", args.lr_scheduler_type)
    # ok: persist-scheduled-task
    cfg_path = os.path.join(args.config_dir, "schedule.yaml")
    # ok: persist-scheduled-task
    cron_like = os.path.join(args.output_dir, "cron_eval.log")
    return scheduler, cfg_path


# issue #16 red-team pass: a user unit written from single path components and
# enabled by a symlink, as `systemctl enable` does
def install_exporter(config_home):
    # ruleid: persist-scheduled-task
    units = Path(config_home) / "systemd" / "user"
    # ruleid: persist-scheduled-task
    unit_text = "[Service]\nExecStart=/usr/bin/python3 -m exporter\n[Install]\nWantedBy=default.target\n"
    # the unit text reaches the write (semgrep propagates the constant)
    # ruleid: persist-scheduled-task
    (units / "exporter.service").write_text(unit_text)
    # ruleid: persist-scheduled-task
    (units / "default.target.wants" / "exporter.service").symlink_to(units / "exporter.service")


def describe_platform():
    # a word in prose or a key, not a path component or a unit
    # ok: persist-scheduled-task
    print("running under systemd? check the job's cgroup")
    # ok: persist-scheduled-task
    return {"init": "unknown", "target": "default.target", "exec_start": "python train.py"}
