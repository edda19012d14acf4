"""One SMTP session over TLS with Python's smtplib and ssl (independent client), from JSON.

usage: smtp_tls.py HOST PORT TIMEOUT < {"mode": "plain"|"smtps", "source": ADDR?, "tls": {...}, "steps": [...]}
tls: {"cafile": F, "servername": N, "certfile": F?, "keyfile": F?} (verification is on: CERT_REQUIRED)
Steps: {"op":"ehlo","name":N}, {"op":"starttls"}, {"op":"auth","mech":"PLAIN"|"LOGIN","user":U,"password":P},
{"op":"mail","addr":A}, {"op":"rcpt","addr":A}, {"op":"data","b64":B}, {"op":"cmd","line":L}, {"op":"quit"}.
Output: {"banner", "replies": [{"op","code","text","ms"}], "features": {...}, "tls": {"version","cipher","peer_cn"}}.
A dropped connection ends the replies with {"op", "error"}.
"""
import base64
import json
import smtplib
import ssl
import sys
import time


def text(t):
    return t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)


def context(tls):
    ctx = ssl.create_default_context(cafile=tls["cafile"])
    if tls.get("certfile"):
        ctx.load_cert_chain(tls["certfile"], tls["keyfile"])
    return ctx


def tls_info(s):
    sock = s.sock
    if sock is None or not isinstance(sock, ssl.SSLSocket):
        return None
    cert = sock.getpeercert() or {}
    cn = [v for rdn in cert.get("subject", ()) for (k, v) in rdn if k == "commonName"]
    return {"version": sock.version(), "cipher": sock.cipher()[0], "peer_cn": cn[0] if cn else None}


def step(s, st, tls):
    op = st["op"]
    if op == "ehlo":
        return s.ehlo(st.get("name", "client.tls.test"))
    if op == "starttls":
        return s.starttls(context=context(tls))
    if op == "auth":
        s.user, s.password = st["user"], st["password"]
        obj = s.auth_plain if st["mech"] == "PLAIN" else s.auth_login
        try:
            return s.auth(st["mech"], obj, initial_response_ok=st.get("initial", True))
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code, e.smtp_error
    if op == "mail":
        return s.mail(st["addr"])
    if op == "rcpt":
        return s.rcpt(st["addr"])
    if op == "data":
        try:
            return s.data(base64.b64decode(st["b64"]))
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
    if op == "cmd":
        return s.docmd(st["line"])
    if op == "quit":
        r = s.docmd("QUIT")
        s.close()
        return r
    raise ValueError("unknown op " + op)


def main():
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    req = json.load(sys.stdin)
    tls = req.get("tls", {})
    out = {"banner": None, "replies": [], "features": {}, "tls": None}
    source = (req["source"], 0) if req.get("source") else None
    try:
        if req.get("mode") == "smtps":
            s = smtplib.SMTP_SSL(timeout=timeout, context=context(tls), source_address=source)
            s._host = tls.get("servername", host)
        else:
            s = smtplib.SMTP(timeout=timeout, source_address=source)
            s._host = tls.get("servername", host)  # the name STARTTLS verifies and sends as SNI
        code, msg = s.connect(host, port)
        out["banner"] = {"op": "connect", "code": code, "text": text(msg)}
    except (OSError, smtplib.SMTPException) as e:
        out["replies"].append({"op": "connect", "error": repr(e)})
        print(json.dumps(out))
        return
    for st in req["steps"]:
        t0 = time.monotonic()
        try:
            code, msg = step(s, st, tls)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
            out["replies"].append({"op": st["op"], "error": repr(e)})
            break
        out["replies"].append({"op": st["op"], "code": code, "text": text(msg), "ms": round((time.monotonic() - t0) * 1000)})
        if st["op"] == "ehlo":
            out["features"] = dict(s.esmtp_features)
        if s.sock is not None:
            out["tls"] = tls_info(s) or out["tls"]
    print(json.dumps(out))


main()
