#!/usr/bin/env python3
"""Hand measurement of slow clients (slowloris) against a real server.

Opens CONNECTIONS half-sent requests spread over ADDRESSES loopback addresses (127.0.x.y), times
/api/health while they are held, waits SECONDS, then counts how many the server has closed.

    GOFER_HTTP_HEADER_TIMEOUT=120s gofer service start --listen 127.0.0.1:18099 --scheduler process &
    python3 Tests/load/slowloris.py 18099 15000 100 75
"""
import resource
import socket
import statistics
import sys
import time
import urllib.request


def health(port: int) -> float:
    """One /api/health request's latency in milliseconds."""
    start = time.time()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=30).read()
    return (time.time() - start) * 1000


def main(argv: list[str]) -> None:
    port, count, addresses = int(argv[1]), int(argv[2]), int(argv[3])
    wait = int(argv[4]) if len(argv) > 4 else 15
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held: list[socket.socket] = []
    start = time.time()
    for i in range(count):
        s = socket.socket()
        s.bind((f"127.0.{1 + (i % addresses) // 250}.{1 + (i % addresses) % 250}", 0))
        try:
            s.connect(("127.0.0.1", port))
            s.send(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(s)
        except OSError:
            s.close()
    print(f"opened {len(held)} in {time.time() - start:.1f}s", flush=True)
    during = sorted(health(port) for _ in range(30))
    print(f"health while held: median {statistics.median(during):.1f} ms, max {during[-1]:.1f} ms", flush=True)
    time.sleep(wait)
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(f"after {wait} s more: {closed} of {len(held)} closed by the server", flush=True)
    after = sorted(health(port) for _ in range(30))
    print(f"health after: median {statistics.median(after):.1f} ms", flush=True)


if __name__ == "__main__":
    main(sys.argv)
