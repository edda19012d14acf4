"""Parses a delivery status notification (or any message) with Python's email package, an independent parser.

usage: dsn_parse.py dsn|message  < message bytes  ->  JSON
  message: {"headers": [[name, value], ...], "body_b64", "defects"} of a single-part message.
  dsn: {"is_multipart", "content_type", "params": {...}, "headers", "defects", "dates": {name: epoch},
        "parts": [{"content_type", "params", "headers", "defects", "payload_b64" (decoded bytes of a leaf part),
                   "content" (text parts, decoded), "blocks" (delivery-status: list of header lists),
                   "block_dates" (per block {name: epoch}), "message" (message/* parts: as for "message")}]}
"defects" lists every defect Python found: the message's, its parts', nested messages' (as the class name)
and each header's (as "Name: class name").
"""
import base64
import email
import email.policy
import email.utils
import json
import sys

POLICY = email.policy.default


def raw_body(msg):
    # get_payload() as str replaces octets it cannot decode; decode=True gives them back as stored.
    return msg.get_payload(decode=True) or b""


def header_list(msg):
    return [[name, str(value)] for name, value in msg.items()]


def all_defects(msg):
    out = [type(d).__name__ for d in msg.defects]
    for name, value in msg.items():
        out += [f"{name}: {type(d).__name__}" for d in getattr(value, "defects", ())]
    return out


def dates(msg):
    out = {}
    for name, value in msg.items():
        if name.lower().endswith(("date", "until")):
            out[name] = email.utils.parsedate_to_datetime(str(value)).timestamp()
    return out


def single(msg):
    body = raw_body(msg) if not msg.is_multipart() else b""
    return {"headers": header_list(msg), "body_b64": base64.b64encode(body).decode(), "defects": all_defects(msg)}


def status_blocks(part):
    subs = part.get_payload()
    if part.get_content_type() == "message/delivery-status":
        return subs
    # message/global-delivery-status: Python sees one message (the per-message block as its header,
    # the rest as its body); the per-recipient blocks are parsed here from that body.
    first = subs[0]
    blocks = [first]
    rest = raw_body(first)
    for chunk in rest.split(b"\n\n"):
        if chunk.strip():
            blocks.append(email.message_from_bytes(chunk + b"\n", policy=POLICY))
    return blocks


def describe_part(part):
    d = {"content_type": part.get_content_type(), "params": {k: v for k, v in (part.get_params() or [])[1:]},
         "headers": header_list(part), "defects": all_defects(part)}
    ctype = part.get_content_type()
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        blocks = status_blocks(part)
        d["blocks"] = [header_list(b) for b in blocks]
        d["block_dates"] = [dates(b) for b in blocks]
        for b in blocks:
            d["defects"] += all_defects(b)
    elif part.get_content_maintype() == "message":
        sub = part.get_payload(0)
        d["message"] = single(sub)
        d["defects"] += d["message"]["defects"]
    else:
        d["payload_b64"] = base64.b64encode(part.get_payload(decode=True) or b"").decode()
        if part.get_content_maintype() == "text":
            d["content"] = part.get_content()
    return d


def main():
    mode = sys.argv[1]
    msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=POLICY)
    if mode == "message":
        print(json.dumps(single(msg)))
        return
    out = {"is_multipart": msg.is_multipart(), "content_type": msg.get_content_type(),
           "params": {k: v for k, v in (msg.get_params() or [])[1:]}, "headers": header_list(msg),
           "defects": all_defects(msg), "dates": dates(msg), "parts": []}
    if msg.is_multipart():
        for part in msg.iter_parts():
            p = describe_part(part)
            out["parts"].append(p)
            out["defects"] += p["defects"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
