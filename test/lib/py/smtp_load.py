"""Sends many messages over parallel SMTP sessions with smtplib; kills a PID right after the last 250.

usage: smtp_load.py HOST PORT SESSIONS PER_SESSION RCPT KILL_PGID TIMEOUT  ->  JSON
  {"acked": [tag, ...], "failed": [[tag, code, text], ...], "killed_at": seconds or null}
Each message carries "Subject: load TAG" and "X-Tsmtpd-Tag: TAG" (TAG = session-index). When every
message has had its final reply, the thread that got the last one sends SIGKILL to process group
KILL_PGID (0 = none) at once: the daemon dies right after its last acknowledgement.
"""
import json
import os
import signal
import smtplib
import sys
import threading
import time

host, port, sessions, per, rcpt, pgid, timeout = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                   int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), float(sys.argv[7]))
total = sessions * per
lock = threading.Lock()
state = {"acked": [], "failed": [], "done": 0, "killed_at": None}
t0 = time.monotonic()


def finish_one():
    state["done"] += 1
    if state["done"] == total and pgid > 0:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            os.kill(pgid, signal.SIGKILL)
        state["killed_at"] = time.monotonic() - t0


def message(tag):
    return ("From: load@client.test\r\nTo: %s\r\nSubject: load %s\r\nX-Tsmtpd-Tag: %s\r\n\r\n"
            "message %s\r\n" % (rcpt, tag, tag, tag)).encode()


def worker(n):
    tags = ["%d-%d" % (n, i) for i in range(per)]
    try:
        s = smtplib.SMTP(host, port, timeout=timeout)
        s.ehlo("load.client.test")
    except (OSError, smtplib.SMTPException) as e:
        with lock:
            for tag in tags:
                state["failed"].append([tag, None, "connect: " + repr(e)])
                finish_one()
        return
    for tag in tags:
        code, text = None, ""
        try:
            s.mail("load@client.test")
            c, t = s.rcpt(rcpt)
            if c != 250:
                code, text = c, t.decode("utf-8", "replace")
                s.rset()
            else:
                try:
                    c, t = s.data(message(tag))
                except smtplib.SMTPDataError as e:
                    c, t = e.smtp_code, e.smtp_error
                code, text = c, t.decode("utf-8", "replace")
        except (OSError, smtplib.SMTPException) as e:
            text = repr(e)
        with lock:
            if code == 250:
                state["acked"].append(tag)
            else:
                state["failed"].append([tag, code, text])
            finish_one()
    try:
        s.quit()
    except (OSError, smtplib.SMTPException):
        pass


threads = [threading.Thread(target=worker, args=(n,)) for n in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"acked": state["acked"], "failed": state["failed"], "killed_at": state["killed_at"]}))
