#!/usr/bin/python3
"""An aiosmtpd SMTP/LMTP receiver for the mta client tests (packages/mta/src/client/).

Usage: mta_client_receiver.py CONFIG.json. Listens on config host:port (port 0: any free one),
prints one JSON object per line on stdout: {"event":"ready","port":N} first, then
{"event":"cmd",...} for each command (with how many bytes were already waiting behind it: a
pipelined command has its successors buffered) and {"event":"message",...} for each message
(envelope lines as received, TLS, AUTH user, client certificate, data base64). Scripted replies:
mail_replies / rcpt_replies / data_cmd_replies / eod_replies map an address to a reply line.
Offers what the config says: starttls (cert, key; client_ca asks for a client certificate),
implicit (cert, key: TLS from the first byte),
bad_starttls (answers 220 then sends garbage), auth (user, password, mechanisms), dsn,
pipelining, smtputf8, size. Also {"event":"connect","conn","peer"} when a connection opens (the
peer's address: source binding tests) and {"event":"close","conn"} when it ends (concurrency
tests). Stops on SIGTERM.
"""
import asyncio
import base64
import json
import re
import signal
import ssl
import sys

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

CFG = json.load(open(sys.argv[1]))
CONN = [0]


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def strip(arg, names):
    """Take the DSN parameters aiosmtpd does not know out of a MAIL/RCPT argument."""
    return re.sub(r"\s+(?:%s)=\S*" % "|".join(names), "", arg, flags=re.I)


Base = LMTP if CFG.get("lmtp") else SMTP


class Recorder(Base):
    line_length_limit = 1 << 20
    command_size_limit = 4096

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        CONN[0] += 1
        self.conn = CONN[0]

    def connection_made(self, transport):
        # aiosmtpd calls this again for the TLS transport after STARTTLS: one event per connection.
        if not getattr(self, "announced", False):
            self.announced = True
            peer = transport.get_extra_info("peername")
            emit({"event": "connect", "conn": self.conn, "peer": peer[0] if peer else None})
        super().connection_made(transport)

    def connection_lost(self, exc):
        if not getattr(self, "close_announced", False):
            self.close_announced = True
            emit({"event": "close", "conn": self.conn})
        super().connection_lost(exc)

    def waiting(self):
        return len(self._reader._buffer) if self._reader is not None else 0

    def record(self, verb, arg):
        emit({"event": "cmd", "conn": self.conn, "verb": verb, "arg": arg, "buffered": self.waiting()})

    async def smtp_EHLO(self, arg):
        self.record("EHLO", arg)
        await super().smtp_EHLO(arg)

    async def smtp_LHLO(self, arg):
        self.record("LHLO", arg)
        await super().smtp_LHLO(arg)

    async def smtp_HELO(self, arg):
        self.record("HELO", arg)
        await super().smtp_HELO(arg)

    async def smtp_MAIL(self, arg):
        self.record("MAIL", arg)
        self.session.raw_mail = arg
        self.session.raw_rcpts = []
        await super().smtp_MAIL(strip(arg, ["RET", "ENVID"]) if CFG.get("dsn") else arg)

    async def smtp_RCPT(self, arg):
        self.record("RCPT", arg)
        if not hasattr(self.session, "raw_rcpts"):
            self.session.raw_rcpts = []
        self.session.raw_rcpts.append(arg)
        await super().smtp_RCPT(strip(arg, ["NOTIFY", "ORCPT"]) if CFG.get("dsn") else arg)

    async def smtp_DATA(self, arg):
        self.record("DATA", arg)
        reply = CFG.get("data_cmd_replies", {}).get(self.envelope.mail_from or "")
        if reply is not None and self.envelope.rcpt_tos:
            await self.push(reply)
            return
        await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg):
        self.record("RSET", arg)
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg):
        self.record("QUIT", arg)
        await super().smtp_QUIT(arg)

    async def smtp_AUTH(self, arg):
        self.record("AUTH", arg.split(" ")[0])
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg):
        self.record("STARTTLS", arg)
        if CFG.get("bad_starttls"):
            await self.push("220 2.0.0 Ready to start TLS")
            self._writer.write(b"this is not a TLS server hello\r\n")
            await self._writer.drain()
            self.transport.close()
            return
        await super().smtp_STARTTLS(arg)


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        out = [r for r in responses[:-1] if CFG.get("auth") or not r[4:].startswith("AUTH")]
        if CFG.get("pipelining"):
            out.append("250-PIPELINING")
        if CFG.get("dsn"):
            out.append("250-DSN")
        out.append("250-ENHANCEDSTATUSCODES")
        out.append("250 HELP")
        return out

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = CFG.get("mail_replies", {}).get(address)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = CFG.get("rcpt_replies", {}).get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        tls = server._tls_protocol is not None or server.transport.get_extra_info("ssl_object") is not None
        cert = server.transport.get_extra_info("peercert") if tls else None
        subject = None
        if cert:
            subject = ",".join("%s=%s" % kv for rdn in cert.get("subject", ()) for kv in rdn)
        emit({
            "event": "message",
            "conn": server.conn,
            "helo": session.host_name,
            "tls": tls,
            "auth": getattr(session, "tsmtpd_user", None),
            "client_cert": subject,
            "mail": getattr(session, "raw_mail", None),
            "rcpts": getattr(session, "raw_rcpts", []),
            "accepted": list(envelope.rcpt_tos),
            "data": base64.b64encode(envelope.original_content).decode(),
        })
        eod = CFG.get("eod_replies", {})
        if CFG.get("lmtp"):
            # RFC 2033 4.2: one reply per accepted recipient, in order.
            return "\r\n".join(eod.get(r, "250 2.0.0 <%s> delivered" % r) for r in envelope.rcpt_tos)
        for r in envelope.rcpt_tos:
            if r in eod:
                return eod[r]
        return "250 2.0.0 queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    want = CFG.get("auth") or {}
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = auth_data.login.decode() == want.get("user") and auth_data.password.decode() == want.get("password")
    if ok:
        session.tsmtpd_user = auth_data.login.decode()
    return AuthResult(success=ok, handled=False)


def tls_context(key="starttls"):
    st = CFG.get(key)
    if not st:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(st["cert"], st["key"])
    if CFG.get("client_ca"):
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(CFG["client_ca"])
    return ctx


def main():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ctx = tls_context()
    implicit = tls_context("implicit")
    mechs = [m.upper() for m in (CFG.get("auth") or {}).get("mechanisms", ["PLAIN", "LOGIN"])]
    exclude = [m for m in ("PLAIN", "LOGIN") if m not in mechs]

    def factory():
        return Recorder(
            Handler(),
            hostname="mx.test",
            tls_context=ctx,
            require_starttls=False,
            auth_require_tls=True,
            authenticator=authenticator,
            auth_exclude_mechanism=exclude,
            enable_SMTPUTF8=bool(CFG.get("smtputf8")),
            data_size_limit=CFG.get("size") or None,
            decode_data=False,
        )

    server = loop.run_until_complete(
        loop.create_server(factory, CFG.get("host", "127.0.0.1"), CFG.get("port", 0), ssl=implicit))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    emit({"event": "ready", "port": server.sockets[0].getsockname()[1]})
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
