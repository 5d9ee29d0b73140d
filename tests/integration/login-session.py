#!/usr/bin/env python3
"""Drives `bredmachine login MACHINE` on a terminal as a person would: waits
for the prompt, logs in as USER with PASSWORD, runs a command, logs out, waits
for the next prompt (a logout does not end the session), then presses ^] three
times and expects the client to say the connection ended and exit 0.

usage: login-session.py MACHINE USER PASSWORD

Prints the transcript; on a step that does not come within its time, prints
which one and exits 1.
"""
import os
import pty
import select
import sys
import time

machine, user, password = sys.argv[1:4]
pid, terminal = pty.fork()
if pid == 0:
    os.execvp("bredmachine", ["bredmachine", "login", machine])

transcript = b""
consumed = 0  # what earlier steps matched


def expect(text, seconds=30):
    """Reads until `text` appears after what earlier steps matched."""
    global transcript, consumed
    deadline = time.monotonic() + seconds
    while text.encode() not in transcript[consumed:]:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([terminal], [], [], left)[0]:
            sys.stdout.write(transcript.decode(errors="replace"))
            sys.exit(f"login-session: no {text!r} within {seconds} s")
        try:
            chunk = os.read(terminal, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            sys.stdout.write(transcript.decode(errors="replace"))
            sys.exit(f"login-session: the client ended before {text!r}")
        transcript += chunk
    consumed = transcript.index(text.encode(), consumed) + len(text)


def send(keys):
    os.write(terminal, keys.encode())


expect("Press ^] three times within 1s")
expect("login: ")
send(user + "\r")
expect("Password: ")
send(password + "\r")
# login flushes what was typed before the shell starts: wait for its prompt (/bin/sh's).
expect("$ ")
send("echo session-of-$(id -un)-on-$(tty)\r")
expect(f"session-of-{user}-on-/dev/pts/")
send("exit\r")
# The getty comes back with the next prompt; the session goes on.
expect("login: ")
send("\x1d\x1d\x1d")
expect(f"Connection to machine {machine} terminated.")
_, status = os.waitpid(pid, 0)
sys.stdout.write(transcript.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
