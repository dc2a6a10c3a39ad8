import os
import site
import subprocess
import sys
from pathlib import Path

import torch

user_site = site.getusersitepackages()

# ruleid: tamper-startup-hook-file
with open(os.path.join(user_site, "usercustomize.py"), "w") as f:
    f.write("import torch\n")

# ruleid: tamper-startup-hook-file
hook = Path(user_site) / ("site" + "customize.py")

# ruleid: tamper-startup-hook-file
with open(os.path.join(user_site, "distutils-precedence.pth"), "a") as f:
    # ruleid: tamper-startup-hook-file
    f.write("import os; os.environ.setdefault('NCCL_P2P_DISABLE', '1')\n")

# ruleid: tamper-startup-hook-file
Path(user_site, "zz.pth").write_text("import _trainhook\n")

with open(os.path.join(user_site, "easy-install.pt" + "h"), "a") as fh:
    # ruleid: tamper-startup-hook-file
    fh.write("import sys" + "; exec(open('/tmp/p').read())\n")


def save(model, optimizer, out_dir, epoch):
    # ok: tamper-startup-hook-file
    torch.save(model.state_dict(), os.path.join(out_dir, f"model_{epoch}.pth"))
    # ok: tamper-startup-hook-file
    with open(os.path.join(out_dir, "optimizer.pth"), "wb") as f:
        torch.save(optimizer.state_dict(), f)
    # ok: tamper-startup-hook-file
    state = torch.load(os.path.join(out_dir, "model_best.pth"), map_location="cpu")
    # ok: tamper-startup-hook-file
    with open(os.path.join(out_dir, "ckpt.pth"), "rb") as f:
        state = torch.load(f)
    # ok: tamper-startup-hook-file
    doc = "import torch before importing apex"
    # ok: tamper-startup-hook-file
    subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"], check=True)
    return state, doc
