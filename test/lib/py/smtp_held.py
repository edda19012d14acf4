"""One smtplib session driven in batches (a session held open across an event, e.g. a reload).

usage: smtp_held.py HOST PORT TIMEOUT   stdin: one JSON list of steps per line (smtp_session.py's
steps); after each batch one JSON line {"replies": [...]} on stdout. EOF ends the session (QUIT).
The first line out is {"banner": {...}} once connected.
"""
import json
import smtplib
import socket
import sys

from smtp_session import reply, step


def main():
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        s = smtplib.SMTP(timeout=timeout)
        code, text = s.connect(host, port)
        print(json.dumps({"banner": reply("connect", code, text)}), flush=True)
    except (OSError, smtplib.SMTPException) as e:
        print(json.dumps({"banner": {"op": "connect", "error": repr(e)}}), flush=True)
        return
    for line in sys.stdin:
        out = []
        for st in json.loads(line):
            try:
                out.append(step(s, st))
            except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as e:
                out.append({"op": st["op"], "error": repr(e)})
                break
        print(json.dumps({"replies": out}), flush=True)
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass


main()
