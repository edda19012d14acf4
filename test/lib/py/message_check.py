"""Parses one stored message (stdin) with Python's email package, as an independent reader of what
sendmail and the daemon wrote. Prints JSON: return_path, from (address, name), date_epoch (from
email.utils.parsedate_to_datetime, null when unparseable), message_id, the decoded text payload
(base64, after any Content-Transfer-Encoding), the transfer encoding and the parser's defects.
"""
import base64
import email
import email.policy
import email.utils
import json
import sys


def main():
    raw = sys.stdin.buffer.read()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    date = msg.get("Date")
    try:
        epoch = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        epoch = None
    name, addr = email.utils.parseaddr(msg.get("From", ""))
    payload = msg.get_payload(decode=True) if not msg.is_multipart() else b""
    out = {
        "return_path": msg.get("Return-Path"),
        "from_addr": addr,
        "from_name": str(email.header.make_header(email.header.decode_header(name))) if name else "",
        "date": date,
        "date_epoch": epoch,
        "message_id": msg.get("Message-ID"),
        "message_ids": msg.get_all("Message-ID") or [],
        "dates": msg.get_all("Date") or [],
        "received": msg.get_all("Received") or [],
        "bcc": msg.get_all("Bcc") or [],
        "cte": msg.get("Content-Transfer-Encoding"),
        "payload_b64": base64.b64encode(payload or b"").decode(),
        "defects": [type(d).__name__ for d in msg.defects],
    }
    print(json.dumps(out))


import email.header  # noqa: E402  (used above; imported here to keep the header list short)
main()
