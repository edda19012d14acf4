#!/usr/bin/env python3
"""A table program speaking OpenSMTPD's table protocol 0.1 (smtpd-tables(7)), written from the
man page, for the tests: its data is a JSON file (argv[1]) of service -> {key: value} (a check
is "found" when the key is present). Special keys steer it: "crash-me" makes it exit at once,
"stall-me" makes it never answer that request. Every line it receives is appended as JSON to
the file named by argv[2] when given (after a first "started uid=N" line), so a test can see
whom it ran as and what crossed the protocol."""
import json
import os
import sys

data_path = sys.argv[1]
log_path = sys.argv[2] if len(sys.argv) > 2 else None


def load():
    with open(data_path) as f:
        return json.load(f)


def log(line):
    if log_path:
        with open(log_path, "a") as f:
            f.write(json.dumps(line) + "\n")


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


data = load()
log("started uid=%d" % os.getuid())
configured = False
for raw in sys.stdin:
    line = raw.rstrip("\n")
    log(line)
    if not configured:
        if not line.startswith("config|"):
            sys.exit("unexpected line before config|ready: " + line)
        if line == "config|ready":
            configured = True
            for service in data:
                say("register|" + service)
            say("register|ready")
        continue
    f = line.split("|", 7)
    if len(f) < 6 or f[0] != "table" or f[1] != "0.1":
        sys.exit("malformed request: " + line)
    kind = f[4]
    if kind == "update":
        try:
            data = load()
            say("update-result|%s|ok" % f[5])
        except Exception:
            say("update-result|%s|error" % f[5])
        continue
    service, rid = f[5], f[6]
    key = f[7] if len(f) > 7 else ""
    if key == "crash-me":
        sys.exit(3)
    if key == "stall-me":
        continue
    table = data.get(service, {})
    if kind == "check":
        say("check-result|%s|%s" % (rid, "found" if key in table else "not-found"))
    elif kind == "lookup":
        if key in table:
            say("lookup-result|%s|found|%s" % (rid, table[key]))
        else:
            say("lookup-result|%s|not-found" % rid)
    elif kind == "fetch":
        values = list(table.values()) or list(table.keys())
        if values:
            say("fetch-result|%s|found|%s" % (rid, values[0]))
        else:
            say("fetch-result|%s|not-found" % rid)
    else:
        sys.exit("unknown request " + kind)
