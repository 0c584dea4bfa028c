#!/usr/bin/env python3
"""Per-call latency and memory of `jit mcp`, from a persistent client that speaks JSON-RPC
over the server's pipes itself (newline-delimited, as MCP's stdio transport is), so the
client's own cost per call is a few tens of microseconds (an SDK's async machinery would add
more than the calls being measured).

  mcp_bench.py latency JIT REPO N QUERY    median / p90 of show, the query QUERY (limit 20),
                                           create and claim, N calls each; JSON on stdout
  mcp_bench.py rss JIT REPO N QUERY        the server's RSS (KiB) at start (after one call),
                                           after N/10 and after N calls (show and QUERY
                                           alternately); JSON on stdout

The server runs with the repository's own durability (full unless its config says else).
"""
import io
import json
import subprocess
import sys
import time


class Server:
    """One `jit mcp` server process and a minimal JSON-RPC client for it (also used by
    scripts/agents_bench.py)."""

    def __init__(self, jit, repo, env=None, client="mcp_bench"):
        self.p = subprocess.Popen([jit, "mcp", "--repo", repo], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env, bufsize=0)
        # Buffered: a raw pipe's readline reads one byte per system call, which cost more
        # than the server's whole answer to a show.
        self.out = io.BufferedReader(self.p.stdout, 1 << 16)
        self.next = 1
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": client, "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg).encode() + b"\n")

    def request(self, method, params):
        i = self.next
        self.next += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        while True:
            line = self.out.readline()
            if not line:
                raise RuntimeError(f"jit mcp (pid {self.p.pid}) closed its output")
            reply = json.loads(line)
            if reply.get("id") == i:
                return reply

    def call(self, tool, args):
        r = self.request("tools/call", {"name": tool, "arguments": args})["result"]
        if r.get("isError"):
            raise SystemExit(f"{tool}: {r['content'][0]['text']}")
        return json.loads(r["content"][0]["text"])

    def rss(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            return int(next(line for line in f if line.startswith("VmRSS")).split()[1])

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def stats(samples):
    samples = sorted(samples)
    n = len(samples)
    return {"median_ms": round(samples[n // 2] * 1000, 3),
            "p90_ms": round(samples[min(n - 1, int(n * 0.9))] * 1000, 3),
            "mean_ms": round(sum(samples) / n * 1000, 3), "n": n}


def latency(s, n, query):
    ids = [i["id"] for i in s.call("query", {"limit": n, "sort": "id"})["items"]]
    out = {}

    def timed(name, make_args):
        samples = []
        for i in range(n):
            args = make_args(i)
            t = time.perf_counter()
            s.call(name, args)
            samples.append(time.perf_counter() - t)
        out[name] = stats(samples)

    timed("show", lambda i: {"ids": [ids[i % len(ids)]]})
    timed("query", lambda i: {"filter": query, "limit": 20})
    timed("create", lambda i: {"title": f"bench create {i}"})
    timed("claim", lambda i: {"agent": f"agent:bench{i}"})
    return out


def rss(s, n, query):
    ids = [i["id"] for i in s.call("query", {"limit": 1000, "sort": "id"})["items"]]
    out = {"start": s.rss()}
    for i in range(n):
        if i % 2:
            s.call("query", {"filter": query, "limit": 20})
        else:
            s.call("show", {"ids": [ids[i % len(ids)]]})
        if i + 1 == n // 10:
            out[f"after_{i + 1}"] = s.rss()
    out[f"after_{n}"] = s.rss()
    return out


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("latency", "rss"):
        raise SystemExit(__doc__)
    mode, jit, repo, n, query = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    s = Server(jit, repo)
    result = (latency if mode == "latency" else rss)(s, n, query)
    s.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
