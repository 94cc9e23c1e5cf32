#!/usr/bin/env python3
"""coalesce-client.py - many clients ask for a few cold URLs at the same moment (for coalesce-bench.sh).

Opens CLIENTS_PER_URL x len(PATHS) keep-alive connections to 127.0.0.1:PORT first (a bounded
number of connects in flight, so the listen backlog is not what is measured), then, once every
connection is up, writes one GET on each of them as fast as one thread can (client i asks for
PATHS[i % len(PATHS)], so every URL is asked for concurrently) and records, for each client, the
time from that common start to the last byte of a complete 200 answer with the expected body
length. Then it reads the origin's /__stats and reports how many requests reached the origin for
each of the paths. Everything is bounded by --timeout: clients not done by then count as failed.

Prints one line of key=value pairs:
  clients ok failed connect_ms send_ms p50_ms p90_ms p99_ms max_ms origin_mean origin_max origin_total
"""
import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
import urllib.request


class Client(asyncio.Protocol):
    def __init__(self, expect_len):
        self.expect_len = expect_len
        self.transport = None
        self.buf = bytearray()
        self.head_len = -1
        self.body_len = -1  # -2: chunked
        self.done = asyncio.get_running_loop().create_future()
        self.ok = False
        self.t_end = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.done.done():
            return
        self.buf += data
        if self.head_len < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head_len = end + 4
            head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            parts = head[0].split(" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    self.body_len = int(value.strip())
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self.body_len = -2
        if self.body_len >= 0:
            got = len(self.buf) - self.head_len
            if got >= self.body_len:
                self.finish(self.status == 200 and self.body_len == self.expect_len)
        elif self.body_len == -2:
            if self.buf.endswith(b"0\r\n\r\n"):
                # good enough for a benchmark: count the payload of the chunks
                body = bytes(self.buf[self.head_len:])
                n, pos = 0, 0
                while True:
                    eol = body.find(b"\r\n", pos)
                    size = int(body[pos:eol].split(b";")[0], 16)
                    if size == 0:
                        break
                    n += size
                    pos = eol + 2 + size + 2
                self.finish(self.status == 200 and n == self.expect_len)

    def finish(self, ok):
        self.t_end = time.monotonic()
        self.ok = ok
        if not self.done.done():
            self.done.set_result(ok)
        self.transport.close()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(False)


async def run(args):
    loop = asyncio.get_running_loop()
    paths = args.paths
    n = args.clients_per_url * len(paths)
    deadline = time.monotonic() + args.timeout
    sem = asyncio.Semaphore(args.connect_parallel)
    clients = [None] * n

    async def connect(i):
        async with sem:
            _, proto = await loop.create_connection(
                lambda: Client(args.size), "127.0.0.1", args.port)
            clients[i] = proto

    t_c = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(connect(i) for i in range(n))),
                               timeout=max(1.0, deadline - time.monotonic()))
    except (asyncio.TimeoutError, OSError) as e:
        print(f"coalesce-client: connecting {n} clients failed: {e!r}", file=sys.stderr)
        for c in clients:
            if c is not None:
                c.transport.close()
        return None
    connect_ms = (time.monotonic() - t_c) * 1000

    reqs = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode() for p in paths]
    t0 = time.monotonic()
    for i, c in enumerate(clients):
        c.transport.write(reqs[i % len(paths)])
    send_ms = (time.monotonic() - t0) * 1000
    try:
        await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)),
                               timeout=max(1.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        pass
    for c in clients:
        if not c.done.done():
            c.done.set_result(False)
            c.transport.close()
    times = sorted((c.t_end - t0) * 1000 for c in clients if c.ok)
    return {"clients": n, "ok": len(times), "failed": n - len(times), "connect_ms": connect_ms,
            "send_ms": send_ms, "times": times}


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="the cache's port on 127.0.0.1")
    ap.add_argument("--origin-port", type=int, required=True, help="accel-origin's port (/__stats)")
    ap.add_argument("--clients-per-url", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024, help="expected body length")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds for the whole run")
    ap.add_argument("--connect-parallel", type=int, default=256)
    ap.add_argument("paths", nargs="+", help="request targets (path?query)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.clients_per_url * len(args.paths) + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))

    res = asyncio.run(run(args))
    if res is None:
        print("clients=0 ok=0 failed=0 connect_ms=nan send_ms=nan p50_ms=nan p90_ms=nan p99_ms=nan max_ms=nan "
              "origin_mean=nan origin_max=nan origin_total=nan")
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{args.origin_port}/__stats", timeout=5) as r:
            stats = json.load(r)["paths"]
    except (OSError, ValueError) as e:
        print(f"coalesce-client: origin /__stats: {e!r}", file=sys.stderr)
        stats = {}
    counts = [stats.get(p.split("?", 1)[0], 0) for p in args.paths]
    t = res["times"]
    print(f"clients={res['clients']} ok={res['ok']} failed={res['failed']} "
          f"connect_ms={res['connect_ms']:.0f} send_ms={res['send_ms']:.1f} "
          f"p50_ms={pct(t, 50):.1f} p90_ms={pct(t, 90):.1f} p99_ms={pct(t, 99):.1f} "
          f"max_ms={(t[-1] if t else float('nan')):.1f} "
          f"origin_mean={statistics.mean(counts):.2f} origin_max={max(counts)} "
          f"origin_total={sum(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
