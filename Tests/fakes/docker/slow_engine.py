#!/usr/bin/env python3
"""A proxy in front of the REAL Docker engine that answers some requests late, for tests.

A busy engine takes a request, acts on it and answers after the client stopped waiting. This
plays that: every request is passed to the real engine at once (so the engine really creates or
starts the container), but the answer to the first `--late N` requests matching `--match`
(a regular expression over "METHOD /path?query") is held back `--delay` seconds before it is
passed on. Everything else, including upgraded connections (attach, exec), streams through
unchanged in both directions.

Usage: slow_engine.py --listen /tmp/x.sock --upstream /var/run/docker.sock \
                      --match 'POST /v[0-9.]+/containers/[^/]+/start' --delay 8 [--late 1]

It prints "ready" on stdout once it listens, and on stderr each held-back request ("holding back
the answer to …") and when its answer goes out ("answering late …").
"""

import argparse
import asyncio
import os
import re
import sys


async def pump(reader, writer, delay_first=0.0, target=""):
    try:
        first = True
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if first and delay_first > 0:
                await asyncio.sleep(delay_first)
                print(f"answering late {target}", file=sys.stderr, flush=True)
            first = False
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", default="/var/run/docker.sock")
    parser.add_argument("--match", required=True)
    parser.add_argument("--delay", type=float, required=True)
    parser.add_argument("--late", type=int, default=1)
    args = parser.parse_args()
    pattern = re.compile(args.match)
    remaining = {"late": args.late}

    async def handle(client_reader, client_writer):
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_writer.close()
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        target = " ".join(parts[:2]) if len(parts) >= 2 else request_line
        delay = 0.0
        if remaining["late"] > 0 and pattern.fullmatch(target):
            remaining["late"] -= 1
            delay = args.delay
            print(f"holding back the answer to {target} for {delay} s", file=sys.stderr, flush=True)
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(args.upstream)
        upstream_writer.write(head)
        await upstream_writer.drain()
        await asyncio.gather(
            pump(client_reader, upstream_writer),
            pump(upstream_reader, client_writer, delay_first=delay, target=target),
        )

    async def serve():
        if os.path.exists(args.listen):
            os.unlink(args.listen)
        server = await asyncio.start_unix_server(handle, path=args.listen)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
