"""Drives one SMTP session with Python's smtplib (an independent client) from a JSON list of steps.

usage: smtp_session.py HOST PORT TIMEOUT  < steps.json   ->  JSON {"replies": [...], "features": {...}}
Steps: {"op":"ehlo"|"helo","name":N}, {"op":"mail","addr":A,"opts":[...]}, {"op":"rcpt","addr":A,"opts":[...]},
{"op":"data","b64":B} (smtplib dot-stuffs and makes CRLF), {"op":"cmd","line":L}, {"op":"rset"}, {"op":"quit"}.
A reply is {"op", "code", "text"}; a dropped connection ends the list with {"op", "error"}.
"""
import base64
import json
import smtplib
import socket
import sys


def reply(op, code, text):
    return {"op": op, "code": code, "text": text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)}


def step(s, st):
    op = st["op"]
    if op == "ehlo":
        code, text = s.ehlo(st.get("name", "client.test"))
        return reply(op, code, text)
    if op == "helo":
        code, text = s.helo(st.get("name", "client.test"))
        return reply(op, code, text)
    if op == "mail":
        code, text = s.mail(st["addr"], st.get("opts", []))
        return reply(op, code, text)
    if op == "rcpt":
        code, text = s.rcpt(st["addr"], st.get("opts", []))
        return reply(op, code, text)
    if op == "data":
        try:
            code, text = s.data(base64.b64decode(st["b64"]))
        except smtplib.SMTPDataError as e:  # the reply to DATA itself was not 354
            code, text = e.smtp_code, e.smtp_error
        return reply(op, code, text)
    if op == "cmd":
        code, text = s.docmd(st["line"])
        return reply(op, code, text)
    if op == "rset":
        code, text = s.docmd("RSET")
        return reply(op, code, text)
    if op == "quit":
        code, text = s.docmd("QUIT")
        s.close()
        return reply(op, code, text)
    raise ValueError("unknown op " + op)


def main():
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    steps = json.load(sys.stdin)
    out = {"replies": [], "features": {}, "banner": None}
    try:
        s = smtplib.SMTP(timeout=timeout)
        code, text = s.connect(host, port)
        out["banner"] = reply("connect", code, text)
    except (OSError, smtplib.SMTPException) as e:
        out["replies"].append({"op": "connect", "error": repr(e)})
        print(json.dumps(out))
        return
    for st in steps:
        try:
            r = step(s, st)
        except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as e:
            out["replies"].append({"op": st["op"], "error": repr(e)})
            break
        out["replies"].append(r)
        if st["op"] in ("ehlo", "helo"):
            out["features"] = dict(s.esmtp_features)
    try:
        s.close()
    except OSError:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
