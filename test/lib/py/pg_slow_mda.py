"""A slow mda command for the shared-queue test: reads the message, marks its start, tempfails
(exit 75) a message tagged wait-* while FLAG exists, else sleeps SECONDS and stores it in the maildir BOX with Python's
mailbox module (a delivery takes long enough that a node can be killed in the middle of it).

usage: pg_slow_mda.py BOX STARTED_DIR FLAG SECONDS
"""
import mailbox
import os
import sys
import time

box, started, flag, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
raw = sys.stdin.buffer.read()
tag = "none"
for line in raw.split(b"\n"):
    if line.lower().startswith(b"x-tsmtpd-tag:"):
        tag = line.split(b":", 1)[1].strip().decode("ascii", "replace")
        break
    if line in (b"", b"\r"):
        break
with open(os.path.join(started, "%s.%d" % (tag, os.getpid())), "w") as f:
    f.write("started\n")
if tag.startswith("wait") and os.path.exists(flag):
    sys.exit(75)
time.sleep(seconds)
mailbox.Maildir(box, create=True).add(raw)
