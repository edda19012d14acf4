"""Reads a maildir with Python's mailbox and email modules; prints the X-Tsmtpd-Tag of each message.

usage: fault_tags.py MAILDIR  ->  JSON ["tag", ...]   (one entry per stored message, "" if none)
Only the header section is read and parsed, so a maildir of thousands of large messages stays a
small, quick answer.
"""
import email
import json
import mailbox
import sys

box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
tags = []
for key in box.iterkeys():
    head = []
    with box.get_file(key) as f:
        for line in f:
            if line in (b"\n", b"\r\n"):
                break
            head.append(line)
    msg = email.message_from_bytes(b"".join(head) + b"\n")
    tags.append((msg.get("X-Tsmtpd-Tag") or "").strip())
print(json.dumps(tags))
