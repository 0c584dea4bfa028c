#!/usr/bin/env python3
"""An outside MCP client for `jit mcp`, on the official MCP Python SDK (PyPI `mcp`).

  mcp_client.py check JIT REPO      connect over stdio, list the tools, call create, query
                                    and claim; print what they returned as JSON
  mcp_client.py bench JIT REPO N    per-call latency of show, a small query, create and claim
                                    through one persistent server (N calls each); JSON out
"""
import asyncio
import json
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def failed(r):
    return getattr(r, "is_error", None) or getattr(r, "isError", None)


def result_json(r):
    if failed(r):
        raise SystemExit(f"tool error: {r.content[0].text}")
    return json.loads(r.content[0].text)


async def session(jit, repo, body):
    params = StdioServerParameters(command=jit, args=["mcp", "--repo", repo])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await body(s)


async def check(s):
    tools = await s.list_tools()
    created = result_json(await s.call_tool("create", {"title": "from python", "state": "ready"}))
    queried = result_json(await s.call_tool("query", {"filter": "title:python"}))
    claimed = result_json(await s.call_tool("claim", {"agent": "py", "id": created["id"]}))
    return {
        "tools": [t.name for t in tools.tools],
        "created": created,
        "queried": queried,
        "claimed": claimed,
    }


def stats(samples):
    samples = sorted(samples)
    n = len(samples)
    return {
        "median_ms": round(samples[n // 2] * 1000, 3),
        "p90_ms": round(samples[min(n - 1, int(n * 0.9))] * 1000, 3),
        "n": n,
    }


async def bench(s, n):
    ids = [i["id"] for i in result_json(await s.call_tool("query", {"limit": n, "sort": "id"}))["items"]]
    out = {}

    async def timed(name, make_args):
        samples = []
        for i in range(n):
            args = make_args(i)
            t = time.perf_counter()
            r = await s.call_tool(name, args)
            samples.append(time.perf_counter() - t)
            if failed(r):
                raise SystemExit(f"{name}: {r.content[0].text}")
        out[name] = stats(samples)

    await timed("show", lambda i: {"ids": [ids[i % len(ids)]]})
    await timed("query", lambda i: {"filter": "label:bench:small", "limit": 20})
    await timed("create", lambda i: {"title": f"bench create {i}"})
    await timed("claim", lambda i: {"agent": f"bench{i}"})
    return out


def main():
    mode, jit, repo = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "check":
        print(json.dumps(asyncio.run(session(jit, repo, check))))
    elif mode == "bench":
        n = int(sys.argv[4])
        print(json.dumps(asyncio.run(session(jit, repo, lambda s: bench(s, n)))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
