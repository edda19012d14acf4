#!/usr/bin/env python3
# An independent SMTP receiver for relay tests (aiosmtpd): listens on HOST:PORT, answers
# RCPT and DATA as its JSON configuration says, records every connection and every message as
# JSON lines in a file, prints READY once listening, and runs until SIGTERM.
#
# Configuration (argv[1], a JSON file):
#   host, port, record (path of the JSONL file)
#   rcpt_replies: {"substring": "550 5.1.1 No such user"}   first matching substring wins
#   tempfail_first: N     the first N DATA commands get "451 4.3.0 Try again later"
#   starttls: {"cert": path, "key": path}    offer STARTTLS with this certificate
#   implicit_tls: {"cert": path, "key": path}    TLS from the first byte (smtps)
#   require_tls: bool     refuse MAIL before STARTTLS
#   client_ca: path       ask for a client certificate and verify it against this CA
#   auth: {"user": "u", "password": "p"}     offer AUTH PLAIN/LOGIN (only over TLS)
#   smtputf8: bool (default true)
import asyncio
import base64
import json
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

conf = json.load(open(sys.argv[1]))
lock = threading.Lock()
state = {"data": 0, "conn": 0}


def record(obj):
    with lock:
        with open(conf["record"], "a") as f:
            f.write(json.dumps(obj) + "\n")


def tls_context(spec):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(spec["cert"], spec["key"])
    if conf.get("client_ca"):
        ctx.load_verify_locations(conf["client_ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for needle, reply in conf.get("rcpt_replies", {}).items():
            if needle in address:
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            state["data"] += 1
            n = state["data"]
        if n <= conf.get("tempfail_first", 0):
            record({"event": "tempfail", "conn": session.conn_id, "rcpts": envelope.rcpt_tos})
            return "451 4.3.0 Try again later"
        record({
            "event": "message",
            "conn": session.conn_id,
            "peer": session.peer[0] if session.peer else None,
            "helo": session.host_name,
            "tls": getattr(session, "tls", False),
            "auth": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "client_cert": getattr(session, "client_cert", None),
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpts": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "data": base64.b64encode(envelope.original_content or envelope.content).decode(),
        })
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    want = conf.get("auth") or {}
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == want.get("user") and auth_data.password.decode() == want.get("password")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class RecordingSMTP(SMTP):
    # connection_made runs again after STARTTLS (RFC 3207 4.2 state reset): same connection id.
    def connection_made(self, transport):
        if not hasattr(self, "conn_id_value"):
            with lock:
                state["conn"] += 1
                self.conn_id_value = state["conn"]
            record({"event": "connect", "conn": self.conn_id_value})
        super().connection_made(transport)
        self.session.conn_id = self.conn_id_value
        sslobj = transport.get_extra_info("ssl_object")
        self.session.tls = sslobj is not None
        self.session.client_cert = None
        if sslobj is not None:
            cert = sslobj.getpeercert()
            if cert:
                subject = dict(x[0] for x in cert.get("subject", ()))
                self.session.client_cert = subject.get("commonName")


class RecordingController(Controller):
    def factory(self):
        kwargs = dict(
            enable_SMTPUTF8=conf.get("smtputf8", True),
            decode_data=False,
            hostname="receiver.test",
            ident="test receiver",
        )
        if conf.get("starttls"):
            kwargs["tls_context"] = tls_context(conf["starttls"])
            kwargs["require_starttls"] = bool(conf.get("require_tls"))
        if conf.get("auth"):
            kwargs["authenticator"] = authenticator
            kwargs["auth_require_tls"] = True
        return RecordingSMTP(self.handler, **kwargs)


def main():
    ssl_context = tls_context(conf["implicit_tls"]) if conf.get("implicit_tls") else None
    controller = RecordingController(Handler(), hostname=conf["host"], port=conf["port"], ssl_context=ssl_context, ready_timeout=10)
    controller.start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
