"""A log writer for the follower tests: appends numbered JSON lines at a steady rate.

Usage: python follow_writer.py PATH FIRST COUNT RATE

Like analysisd it keeps its file open (O_APPEND, one write per line) and, like a daemon after
logrotate's postrotate, reopens PATH on SIGHUP. Exits 0 when COUNT lines are written.
"""

from __future__ import annotations

import os
import signal
import sys
import time

reopen = False


def on_hup(signum: int, frame: object) -> None:
    global reopen
    reopen = True


def open_log(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def main() -> int:
    global reopen
    path, first, count, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    signal.signal(signal.SIGHUP, on_hup)
    fd = open_log(path)
    print("ready", flush=True)
    start = time.monotonic()
    for n in range(count):
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if reopen:
            reopen = False
            os.close(fd)
            fd = open_log(path)
        ident = first + n
        line = b'{"id": %d, "rule": {"id": "5712", "level": 10}, "pad": "%s"}\n' % (
            ident,
            b"x" * (ident % 97),
        )
        os.write(fd, line)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
