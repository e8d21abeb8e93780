#!/usr/bin/env python3
"""Drives `gofer task attach` through a real pseudo-terminal, as a person at a terminal would.

Usage: pty_attach.py GOFER PIPELINE RUN TASK   (GOFER_HOST, GOFER_TOKEN in the environment)

Checks, in order: the remote terminal has our size; a resize reaches it; a command's output comes
back; Ctrl-C interrupts the remote process (not the CLI); `exit 3` ends the CLI with status 3.
Prints one line per check and the transcript on failure; exits 0 only when every check passed.
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

gofer, pipeline, run, task = sys.argv[1:5]
transcript = bytearray()
seen = 0  # what earlier reads already matched; each read looks only past it


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_until(fd, needle, timeout=60.0):
    """Reads until `needle` (bytes) appears past what earlier calls matched; returns the text up to it."""
    global seen
    start = seen
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = transcript.find(needle, start)
        if found >= 0:
            seen = found + len(needle)
            return transcript[start:seen].decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            transcript.extend(data)
    raise TimeoutError(f"did not see {needle!r} within {timeout}s")


pid, master = pty.fork()
if pid == 0:
    os.execv(gofer, [gofer, "task", "attach", pipeline, run, task])

set_size(master, 30, 100)
failures = []


def check(name, fn):
    try:
        fn()
        print(f"ok   {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        print(f"FAIL {name}: {e}", flush=True)
        failures.append(name)


def send(text):
    os.write(master, text.encode())


check("prompt", lambda: read_until(master, b"# "))


def size_is(rows, cols):
    send("stty size\r")
    out = read_until(master, f"{rows} {cols}".encode())
    read_until(master, b"# ")
    return out


check("the remote terminal has our size (30 100)", lambda: size_is(30, 100))


def resize():
    set_size(master, 40, 120)  # the kernel sends SIGWINCH to the CLI
    time.sleep(0.5)
    size_is(40, 120)


check("a resize reaches the remote terminal (40 120)", resize)


def echo():
    send("echo hel''lo-from-pty\r")
    read_until(master, b"hello-from-pty\r\n")
    read_until(master, b"# ")


check("a command's output comes back", echo)


def interrupt():
    # (An odd length: the task's own command may be a sleep too.)
    send("sleep 313; echo not-interrupted\r")
    # Ctrl-C only once the command runs (its line echoed back), not while it is being typed.
    read_until(master, b"not-interrupted\r\n", timeout=60)
    time.sleep(1.0)
    send("\x03")
    # sleep 313 would hold the prompt for 313 s; interrupted, it is back at once. (The typed line is
    # echoed, so "not-interrupted" appears once as input; as output it would start a line.)
    out = read_until(master, b"# ", timeout=60)
    if b"\nnot-interrupted" in transcript:
        raise AssertionError("sleep was not interrupted")
    # Interrupted, not left running in the background (where it would hold the terminal open).
    send("ps | grep -q '[s]leep 313' || echo no-sleep-left\r")
    read_until(master, b"no-sleep-left\r\n", timeout=60)  # the echoed input
    read_until(master, b"no-sleep-left\r\n", timeout=60)  # the output
    read_until(master, b"# ", timeout=60)
    return out


check("Ctrl-C interrupts the remote process, not the CLI", interrupt)

send("exit 3\r")
status = None
deadline = time.time() + 60
while time.time() < deadline:
    try:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            data = os.read(master, 65536)
            transcript.extend(data)
    except OSError:
        pass
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.waitstatus_to_exitcode(st)
        break
if status == 3:
    print("ok   exit 3 ends the CLI with status 3", flush=True)
else:
    print(f"FAIL exit 3 ends the CLI with status 3: status {status}", flush=True)
    failures.append("exit")
    if status is None:
        os.kill(pid, 9)

if failures:
    print("--- transcript ---")
    print(transcript.decode(errors="replace"))
    sys.exit(1)
