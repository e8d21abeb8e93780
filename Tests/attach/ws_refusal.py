#!/usr/bin/env python3
"""Opens an attach WebSocket as a browser would (a raw upgrade with the headers given) and prints
what the server answered: the HTTP status line, each text message, and the close code.
Usage: ws_refusal.py HOST:PORT PATH [HEADER: VALUE ...]"""
import base64, os, socket, struct, sys


def main() -> None:
    host, path, headers = sys.argv[1], sys.argv[2], sys.argv[3:]
    h, p = host.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n" + "".join(x + "\r\n" for x in headers) + "\r\n")
    s.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    print("status:", head.split(b"\r\n")[0].decode())
    buffer = rest

    def need(n: int) -> bytes:
        nonlocal buffer
        while len(buffer) < n:
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError
            buffer += chunk
        out, buffer = buffer[:n], buffer[n:]
        return out

    try:
        while True:
            b0, b1 = need(2)
            opcode, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", need(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", need(8))[0]
            payload = need(length)
            if opcode == 1:
                print("text:", payload.decode())
            elif opcode == 8:
                print("close:", struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None)
                break
    except (EOFError, socket.timeout):
        print("ended without a close frame")


main()
