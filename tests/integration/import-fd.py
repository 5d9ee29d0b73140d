#!/usr/bin/env python3
"""Calls ImportTemplate(NAME, fd, {}) on the system bus with a descriptor of a
chosen kind, which busctl and gdbus cannot pass, and prints the daemon's answer.

usage: import-fd.py NAME KIND [PATH]
  KIND: socket (one end of a socketpair), tty (a pty's terminal end),
        path (PATH opened read-only and non-blocking: a FIFO, a directory,
        a device, a file)

With METHOD=ExportMachine in the environment the call is ExportMachine(NAME,
fd, options) instead, and path opens PATH write-only when WRITE=1 is set too;
OPTION=KEY=VALUE adds one string option to the a{sv}.

Prints "job ID OBJECT-PATH" and exits 0 on success; prints "error NAME: MESSAGE"
on stderr and exits 1 when the daemon refuses. Speaks the D-Bus wire protocol itself
(the test bed has no D-Bus bindings for Python) with the caller's own
credentials, so it runs as any user.
"""
import array
import os
import socket
import struct
import sys

# The system bus, or another given as DBUS_SYSTEM_BUS_ADDRESS=unix:path=...
BUS = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket").split("path=", 1)[1]


class Writer:
    def __init__(self):
        self.data = bytearray()

    def align(self, n):
        while len(self.data) % n:
            self.data.append(0)

    def byte(self, v):
        self.data.append(v)

    def u32(self, v):
        self.align(4)
        self.data += struct.pack("<I", v)

    def string(self, s):
        b = s.encode()
        self.u32(len(b))
        self.data += b + b"\0"

    def signature(self, s):
        b = s.encode()
        self.byte(len(b))
        self.data += b + b"\0"


def message(serial, path, interface, member, destination, signature="", body=b"", fds=0):
    fields = Writer()
    entries = [(1, "o", path), (2, "s", interface), (3, "s", member), (6, "s", destination)]
    if signature:
        entries.append((8, "g", signature))
    if fds:
        entries.append((9, "u", fds))
    for code, kind, value in entries:
        fields.align(8)
        fields.byte(code)
        fields.signature(kind)
        if kind == "g":
            fields.signature(value)
        elif kind == "u":
            fields.u32(value)
        else:
            fields.string(value)
    head = Writer()
    head.data += b"l" + bytes([1, 0, 1])
    head.u32(len(body))
    head.u32(serial)
    head.u32(len(fields.data))
    # The fields array starts at offset 16, already aligned to 8.
    head.data += fields.data
    head.align(8)
    return bytes(head.data) + body


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("error the bus closed the connection")
        data += chunk
    return data


def read_message(sock):
    fixed = read_exact(sock, 16)
    body_len, _serial, fields_len = struct.unpack("<III", fixed[4:16])
    header_len = 16 + fields_len
    header_len += (8 - header_len % 8) % 8
    rest = read_exact(sock, header_len - 16 + body_len)
    fields = rest[: fields_len]
    body = rest[header_len - 16:]
    parsed = {}
    pos = 0
    while pos < len(fields):
        pos += (8 - pos % 8) % 8
        if pos >= len(fields):
            break
        code = fields[pos]
        sig_len = fields[pos + 1]
        kind = fields[pos + 2: pos + 2 + sig_len].decode()
        pos += 3 + sig_len
        if kind in ("s", "o"):
            pos += (4 - pos % 4) % 4
            n = struct.unpack("<I", fields[pos: pos + 4])[0]
            parsed[code] = fields[pos + 4: pos + 4 + n].decode(errors="replace")
            pos += 5 + n
        elif kind == "g":
            n = fields[pos]
            parsed[code] = fields[pos + 1: pos + 1 + n].decode()
            pos += 2 + n
        elif kind == "u":
            pos += (4 - pos % 4) % 4
            parsed[code] = struct.unpack("<I", fields[pos: pos + 4])[0]
            pos += 4
        else:
            raise SystemExit(f"error unexpected header field type {kind}")
    return fixed[1], parsed, body


def call(sock, serial, *args, fds=(), **kwargs):
    data = message(serial, *args, fds=len(fds), **kwargs)
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
    sock.sendmsg([data], ancillary)
    while True:
        kind, fields, body = read_message(sock)
        if kind in (2, 3) and fields.get(5) == serial:
            return kind, fields, body


def body_string(body, offset=0):
    n = struct.unpack("<I", body[offset: offset + 4])[0]
    return body[offset + 4: offset + 4 + n].decode(errors="replace"), offset + 5 + n


def open_descriptor(kind, path):
    if kind == "socket":
        ours, theirs = socket.socketpair()
        return theirs.detach(), ours
    if kind == "tty":
        leader, terminal = os.openpty()
        return terminal, leader
    mode = os.O_WRONLY if os.environ.get("WRITE") == "1" else os.O_RDONLY
    return os.open(path, mode | os.O_NONBLOCK), None


def main():
    name, kind = sys.argv[1], sys.argv[2]
    fd, keep = open_descriptor(kind, sys.argv[3] if len(sys.argv) > 3 else "")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(BUS)
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    if not sock.recv(4096).startswith(b"OK"):
        raise SystemExit("error the bus refused authentication")
    sock.sendall(b"NEGOTIATE_UNIX_FD\r\n")
    if not sock.recv(4096).startswith(b"AGREE_UNIX_FD"):
        raise SystemExit("error the bus does not pass descriptors")
    sock.sendall(b"BEGIN\r\n")
    call(sock, 1, "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "org.freedesktop.DBus")

    body = Writer()
    body.string(name)
    body.u32(0)  # the first (only) descriptor
    length_at = len(body.data)
    body.u32(0)  # the a{sv}'s length, set below
    body.align(8)
    start = len(body.data)
    if "OPTION" in os.environ:
        key, value = os.environ["OPTION"].split("=", 1)
        body.align(8)
        body.string(key)
        body.signature("s")
        body.string(value)
    body.data[length_at:length_at + 4] = struct.pack("<I", len(body.data) - start)
    method = os.environ.get("METHOD", "ImportTemplate")
    kind_, fields, reply = call(sock, 2, "/org/bredos/machine1", "org.bredos.machine1.Manager", method,
                                "org.bredos.machine1", signature="sha{sv}", body=bytes(body.data), fds=[fd])
    if kind_ == 3:
        text = body_string(reply)[0] if fields.get(8, "").startswith("s") else ""
        print(f"error {fields.get(4)}: {text}", file=sys.stderr)
        return 1
    job = struct.unpack("<I", reply[:4])[0]
    print(f"job {job} {body_string(reply, 4)[0]}")
    del keep
    return 0


if __name__ == "__main__":
    sys.exit(main())
