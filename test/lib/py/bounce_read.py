"""Reads delivery status notifications from a maildir with Python's mailbox and email packages
(independent parsers) and prints what a test checks, as JSON.

usage: bounce_read.py MAILDIR  ->  JSON list, one per message:
  {"headers": {name: value}, "content_type", "report_type", "parts": [content types],
   "defects": [...], "status_message": {field: value}, "status_recipients": [{field: value}],
   "returned_headers": {name: value}, "returned_body": str|None, "text": str}
RFC 6533 reports (message/global-delivery-status, message/global-headers) read the same way.
A missing maildir reads as an empty list.
"""
import email
import email.policy
import json
import mailbox
import os
import sys


def fields(block):
    return {k: str(v) for k, v in block.items()}


def defects_of(msg):
    out = [type(d).__name__ for d in msg.defects]
    for part in msg.walk():
        out += [type(d).__name__ for d in part.defects]
    return out


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    d = {"headers": {k: str(v) for k, v in msg.items()}, "content_type": msg.get_content_type(),
         "report_type": msg.get_param("report-type"), "parts": [], "defects": defects_of(msg),
         "status_message": {}, "status_recipients": [], "returned_headers": {}, "returned_body": None, "text": ""}
    if not msg.is_multipart():
        return d
    for part in msg.get_payload():
        ctype = part.get_content_type()
        d["parts"].append(ctype)
        if ctype == "text/plain":
            d["text"] = part.get_content()
        elif ctype == "message/delivery-status":
            blocks = part.get_payload()
            if blocks:
                d["status_message"] = fields(blocks[0])
                d["status_recipients"] = [fields(b) for b in blocks[1:]]
        elif ctype == "message/global-delivery-status":
            # RFC 6533: the email package reads it as one message whose header is the per-message
            # block and whose body holds the per-recipient blocks, separated by empty lines.
            inner = part.get_payload()[0]
            d["status_message"] = fields(inner)
            body = inner.get_payload(decode=True) or b""
            body = body.decode("utf-8", "replace")
            for chunk in body.replace("\r\n", "\n").split("\n\n"):
                if chunk.strip():
                    d["status_recipients"].append(fields(email.message_from_string(chunk.strip("\n") + "\n", policy=email.policy.default)))
        elif ctype == "message/global-headers":
            d["returned_headers"] = {k: str(v) for k, v in part.get_payload()[0].items()}
        elif ctype == "text/rfc822-headers":
            inner = email.message_from_string(part.get_content(), policy=email.policy.default)
            d["returned_headers"] = {k: str(v) for k, v in inner.items()}
        elif ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()[0]
            d["returned_headers"] = {k: str(v) for k, v in inner.items()}
            d["returned_body"] = inner.get_content() if not inner.is_multipart() else None
    return d


def main():
    path = sys.argv[1]
    out = []
    if os.path.isdir(path):
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.keys()):
            out.append(parse(box.get_bytes(key)))
    print(json.dumps(out))


main()
