"""Reads a maildir or an mbox back with Python's mailbox module (an independent parser).

usage: mailbox_read.py maildir|mbox PATH  ->  JSON list of
  {"key", "subdir" (maildir: new|cur), "from_line" (mbox), "raw_b64", "body_b64", "headers": [[name, value], ...]}
raw_b64 is the message as the mailbox module returns it (get_bytes); body_b64 what follows the first blank line.
A missing mailbox reads as an empty list.
"""
import base64
import email.parser
import email.policy
import json
import mailbox
import os
import sys


def split_body(raw):
    for sep in (b"\n\n", b"\r\n\r\n"):
        i = raw.find(sep)
        if i >= 0:
            return raw[i + len(sep):]
    return b""


def headers_of(raw):
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    out = []
    for name, value in msg.items():
        text = str(value)
        out.append([name, text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")])
    return out


def entry(key, raw, extra):
    d = {"key": key, "raw_b64": base64.b64encode(raw).decode(), "body_b64": base64.b64encode(split_body(raw)).decode(),
         "headers": headers_of(raw)}
    d.update(extra)
    return d


def main():
    kind, path = sys.argv[1], sys.argv[2]
    out = []
    if kind == "maildir":
        if os.path.isdir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                out.append(entry(key, box.get_bytes(key), {"subdir": box.get_message(key).get_subdir()}))
    elif kind == "mbox":
        if os.path.exists(path):
            box = mailbox.mbox(path, create=False)
            for key in box.keys():
                out.append(entry(str(key), box.get_bytes(key), {"from_line": box.get_message(key).get_from()}))
    else:
        raise SystemExit("kind must be maildir or mbox")
    print(json.dumps(out))


main()
