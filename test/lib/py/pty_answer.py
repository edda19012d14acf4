"""Runs a command on a new pseudo-terminal (its controlling terminal), answers one prompt, waits
for a line saying it is ready, then stops it with SIGTERM and reports, as JSON.

usage: pty_answer.py PROMPT ANSWER READY CMD [ARGS...]
  -> {"prompted": bool, "ready": bool, "after_prompt": str, "status": int|None, "output": str}
The ANSWER is typed followed by CR, as a user presses Enter. Everything is bounded (30 s).
"""
import json
import os
import pty
import select
import signal
import sys
import time


def main():
    prompt, answer, ready = (s.encode() for s in sys.argv[1:4])
    cmd = sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cmd[0], cmd)
    out = b""
    prompted_at = None
    is_ready = False
    deadline = time.time() + 30
    while time.time() < deadline and not is_ready:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break  # the child closed the terminal (it exited)
        if not data:
            break
        out += data
        if prompted_at is None and prompt in out:
            prompted_at = out.index(prompt) + len(prompt)
            os.write(fd, answer + b"\r")
        if ready in out:
            is_ready = True
    status = None
    try:
        os.kill(pid, signal.SIGTERM)
        stop_by = time.time() + 10
        while time.time() < stop_by:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
            try:
                while select.select([fd], [], [], 0.05)[0]:
                    out += os.read(fd, 65536)
            except OSError:
                pass
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except ProcessLookupError:
        _, st = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(st)
    text = out.decode("utf-8", "replace")
    after = out[prompted_at:].decode("utf-8", "replace") if prompted_at is not None else ""
    print(json.dumps({"prompted": prompted_at is not None, "ready": is_ready, "after_prompt": after, "status": status, "output": text[-4000:]}))


main()
