#!/usr/bin/env python3
# A filter for tsmtpd's tests, written from smtpd-filters(7) (protocol 0.7), independent of the
# daemon's code: it serves many sessions at once (state keyed by session id) and, by option,
# rejects senders with its own reply, marks junk, rewrites the body through data-line, tags the
# message (for chains), crashes or never answers. Every line it receives goes to --log.
import argparse, sys

ap = argparse.ArgumentParser()
ap.add_argument('--log')
ap.add_argument('--reject-sender', default=None)
ap.add_argument('--junk-sender', default=None)
ap.add_argument('--crash-sender', default=None)
ap.add_argument('--stall-sender', default=None)
ap.add_argument('--rewrite', default=None, help='FROM=TO in body lines')
ap.add_argument('--tag', default=None, help='adds "X-Chain: TAG" as the first line')
a = ap.parse_args()

log = open(a.log, 'a', buffering=1) if a.log else None
out = sys.stdout
inp = sys.stdin.buffer

def send(line):
    out.write(line + '\n')
    out.flush()

started = {}  # session id -> True once the first data line was seen
for raw in inp:
    line = raw.rstrip(b'\n').decode('utf-8', 'surrogateescape')
    if log:
        log.write(line + '\n')
    f = line.split('|')
    if f[0] == 'config':
        if f[1] == 'ready':
            send('register|report|smtp-in|*')
            send('register|filter|smtp-in|mail-from')
            if a.rewrite or a.tag:
                send('register|filter|smtp-in|data-line')
            send('register|ready')
        continue
    if f[0] == 'report':
        if f[4] == 'link-disconnect':
            started.pop(f[5], None)
        continue
    if f[0] != 'filter':
        continue
    phase, sid, token = f[4], f[5], f[6]
    if phase == 'mail-from':
        sender = '|'.join(f[7:])
        if a.crash_sender and a.crash_sender in sender:
            sys.stderr.write('demo filter: crashing on purpose\n')
            sys.exit(3)
        if a.stall_sender and a.stall_sender in sender:
            continue  # never answers
        if a.reject_sender and a.reject_sender in sender:
            send(f'filter-result|{sid}|{token}|reject|550 5.7.1 demo filter refuses {sender}')
        elif a.junk_sender and a.junk_sender in sender:
            send(f'filter-result|{sid}|{token}|junk')
        else:
            send(f'filter-result|{sid}|{token}|proceed')
    elif phase == 'data-line':
        body = '|'.join(f[7:])
        if sid not in started:
            started[sid] = True
            if a.tag:
                send(f'filter-dataline|{sid}|{token}|X-Chain: {a.tag}')
        if body == '.':
            started.pop(sid, None)
        elif a.rewrite:
            src, dst = a.rewrite.split('=', 1)
            body = body.replace(src, dst)
        send(f'filter-dataline|{sid}|{token}|{body}')
    else:
        send(f'filter-result|{sid}|{token}|proceed')
