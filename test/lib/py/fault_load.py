"""SMTP load that outlives server crashes, recording the fate of every message exactly.

usage: fault_load.py HOST PORT SESSIONS STOPFILE MAX_SECONDS PAUSE_MS RCPT[,RCPT...] SEED [SENDER]  ->  JSON
  {"acked": [tag, ...],                      250 to the end of DATA: the server must deliver it
   "refused": [[tag, stage, code, text]],    a definite non-250 reply: must never be delivered
   "unknown": [[tag, error]],                the body was sent, then the connection broke before
                                             the reply: may or may not be delivered
   "unsent": [[tag, stage, error]],          broke before the body was sent: never delivered
   "connects": n, "connect_failures": n, "seconds": s}
SESSIONS threads each connect, send messages one after the other (tag SESSION-N, in the header
X-Tsmtpd-Tag and the Subject) and reconnect after any break (the server was killed and is
restarting), until STOPFILE exists or MAX_SECONDS have passed. One message in sixteen is large
(64-256 KiB) so that some kills come while a body is on its way. The DATA exchange is done
by hand (not smtplib's data()) to know whether the body left before the connection broke.
SENDER is the envelope sender, "%s" in it replaced by the tag (default load@client.test).
"""
import json
import os
import random
import smtplib
import socket
import sys
import threading
import time

host, port, sessions, stopfile, max_s, pause_ms, rcpts, seed = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]),
    float(sys.argv[6]), sys.argv[7].split(","), int(sys.argv[8]))
sender = sys.argv[9] if len(sys.argv) > 9 else "load@client.test"
lock = threading.Lock()
out = {"acked": [], "refused": [], "unknown": [], "unsent": [], "connects": 0, "connect_failures": 0}
t0 = time.monotonic()


def running():
    return time.monotonic() - t0 < max_s and not os.path.exists(stopfile)


def message(tag, rnd):
    head = ("From: load@client.test\r\nTo: %s\r\nSubject: fault %s\r\nX-Tsmtpd-Tag: %s\r\n\r\n"
            % (rcpts[0], tag, tag))
    lines = ["message %s" % tag]
    if rnd.random() < 0.0625:
        line = "%s %s" % (tag, "x" * 70)
        lines += [line] * (rnd.randint(64, 256) * 1024 // (len(line) + 2))
    return (head + "\r\n".join(lines) + "\r\n.\r\n").encode()


def record(key, item):
    with lock:
        out[key].append(item)


def connect():
    while running():
        try:
            s = smtplib.SMTP(host, port, timeout=20)
            code, _ = s.ehlo("fault.client.test")
            if code == 250:
                with lock:
                    out["connects"] += 1
                return s
            s.close()
        except (OSError, smtplib.SMTPException):
            pass
        with lock:
            out["connect_failures"] += 1
        time.sleep(0.05)
    return None


def one(s, tag, rnd):
    """Sends one message; returns False when the connection is gone."""
    stage = "mail"
    try:
        code, text = s.mail(sender.replace("%s", tag))
        if code != 250:
            record("refused", [tag, stage, code, text.decode("utf-8", "replace")])
            s.rset()
            return True
        stage = "rcpt"
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                record("refused", [tag, stage, code, text.decode("utf-8", "replace")])
                s.rset()
                return True
        stage = "data"
        code, text = s.docmd("DATA")
        if code != 354:
            record("refused", [tag, stage, code, text.decode("utf-8", "replace")])
            s.rset()
            return True
        stage = "body"
        s.send(message(tag, rnd))
        code, text = s.getreply()
    except (OSError, smtplib.SMTPException) as e:
        if stage == "body":
            record("unknown", [tag, repr(e)])
        else:
            record("unsent", [tag, stage, repr(e)])
        return False
    if code == 250:
        record("acked", tag)
    else:
        record("refused", [tag, stage, code, text.decode("utf-8", "replace")])
    return code != 421  # 421: the server closes the connection


def worker(n):
    rnd = random.Random(seed * 1000 + n)
    i = 0
    while running():
        s = connect()
        if s is None:
            return
        while running():
            tag = "%d-%d" % (n, i)
            i += 1
            if not one(s, tag, rnd):
                break
            time.sleep(pause_ms / 1000.0)
        try:
            s.close()
        except (OSError, smtplib.SMTPException):
            pass


socket.setdefaulttimeout(20)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out["seconds"] = round(time.monotonic() - t0, 2)
print(json.dumps(out))
