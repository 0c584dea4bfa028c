#!/usr/bin/env python3
"""Many agents at once: N agent processes, each doing M rounds of
create -> claim -> update -> done against one repository of 10k issues, at full and relaxed
durability, for (1, 100), (10, 50), (50, 20) and (100, 10) agents x rounds.

Each agent is a thread that runs the real `jit` binary (release build) one command after
another, as an agent would; what is timed is each command's wall time as the agent sees it
(process start to exit). Per configuration it prints and writes (markdown) the throughput,
p50/p95/p99/max per operation, the lock wait of the committed operations and the
claim's own transaction time (both from `jit metrics`, that is from the event log) and the
failures, LOCK_TIMEOUT counted apart.

A round: `issue create --state ready`; `claim --agent AGENT` (the best claimable issue of the
whole repository, not necessarily the one just made); `issue update ID --add-label ...
--claim-token T`; `issue update ID --state done --claim-token T`.

With `--via claim-run` (or `--via commands claim-run` for both) the same rounds go through
`jit claim run`: `issue create --state ready`, then `claim run --agent AGENT -- sh -c 'exec
jit issue update "$JIT_ISSUE_ID" --add-label ...'`: the supervisor claims, the command makes
the update with the token from its environment, the supervisor moves the issue to done. The
`claim run` column is the supervisor's whole wall time (claim, the command's update, the end
write); the transaction times of claim and release come from `jit metrics`; ops/s counts the
committed operations (create, claim, update, release events) over the wall time.

With `--mode served` (or `--serve`, or `--mode direct served` for both, one after the other
per row) a `jit serve --detach` daemon runs for the repository while the agents work: it is
started after the repository is copied (and warmed by one served listing), and stopped at
the end of the row; the agents' commands are then forwarded to it (`claim run` itself is
never served, the commands it runs are). `direct` rows run with no daemon, as a repository
without `jit serve` does. Each row records the load average (`/proc/loadavg`, as `uptime`
shows it) before and after it.

With `--mode mcp` each agent is one persistent `jit mcp --repo R` server process, started
(and warmed by one `query` call: its first read builds the warm index) before the timed
window, driven by the agent's thread over the server's stdin/stdout with newline-delimited
JSON-RPC: the same rounds as the same tool calls (`create` with `state: ready`; `claim` with
`agent`; `update` with `add_labels` and `claim_token`; `update` with `state: done` and
`claim_token`), each call timed from the request written to its reply read. A tool error
(`isError`) or a claim answered `NO_ISSUE_AVAILABLE` is a failure, counted by its code. The
row also records the CPU the servers used during the timed window (utime + stime from
`/proc/PID/stat`, summed) and the CPU of the harness process itself (the client), so that a
client too slow to keep up would show. Each server takes an inotify instance: Linux allows 128 per user by
default (`fs.inotify.max_user_instances`), so more agents than that need the limit raised.

Usage: scripts/agents_bench.py [--issues N] [--only AGENTSxROUNDS ...] [--durability D ...]
                               [--via commands|claim-run ...] [--mode direct|served|mcp ...]

Environment:
  BENCH_DIR   scratch directory for the repositories (default: target/bench-agents)
  BENCH_OUT   where the markdown summary goes (default: target/bench-agents.md)
  JIT_BIN     the binary to use (default: build the release binary and copy it)
  BENCH_SERVE_HOOK  a program started with the daemon's pid once a served row's daemon runs
              (a profiler to attach, e.g. a script running `perf record -g -p "$1"`)

The seed repository (scripts/gen_repo.py, ~20 % of it ready) is made once and copied afresh
for each configuration, so every run starts from the same 10k issues with a warm index.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import mcp_bench  # beside this script

CONFIGS = [(1, 100), (10, 50), (50, 20), (100, 10)]
OPS = ["create", "claim", "update", "done"]
RUN_OPS = ["create", "claim run"]


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def percentile(values, p):
    """Nearest rank, as `jit metrics`."""
    if not values:
        return 0.0
    v = sorted(values)
    i = max(1, min(len(v), int(-(-p * len(v) // 1))))
    return v[i - 1]


def build(root):
    if os.environ.get("JIT_BIN"):
        return os.environ["JIT_BIN"]
    log("building the release binary")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "jit"], cwd=root,
                   check=True)
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=root, check=True,
        capture_output=True, text=True).stdout)
    return os.path.join(meta["target_directory"], "release", "jit")


def env_for(durability):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIT_")}
    env["JIT_DURABILITY"] = durability
    env["JIT_LOCK_TIMEOUT_MS"] = "10000"  # the default: a LOCK_TIMEOUT is a failure here
    return env


def make_seed(root, jit, bench_dir, issues):
    seed = os.path.join(bench_dir, f"seed-{issues}")
    stamp = os.path.join(bench_dir, f"seed-{issues}.stamp")
    gen = os.path.join(root, "scripts", "gen_repo.py")
    want = f"{issues} {os.path.getmtime(gen)}"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return seed
    log(f"generating {seed} ({issues} issues)")
    shutil.rmtree(seed, ignore_errors=True)
    os.makedirs(seed)
    subprocess.run([jit, "--repo", seed, "--quiet", "init"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, gen, seed, str(issues), "--deps", "1.5"], check=True)
    open(stamp, "w").write(want)
    return seed


class Agent(threading.Thread):
    def __init__(self, jit, repo, env, name, rounds, start, via="commands"):
        super().__init__()
        self.jit, self.repo, self.env, self.name, self.rounds = jit, repo, env, name, rounds
        self.start_barrier = start
        self.via = via
        self.times = {op: [] for op in (OPS if via == "commands" else RUN_OPS)}
        self.failures = []

    def run_jit(self, op, args):
        t = time.perf_counter()
        out = subprocess.run([self.jit, "--repo", self.repo, "--json", *args], env=self.env,
                             capture_output=True, text=True)
        self.times[op].append((time.perf_counter() - t) * 1000.0)
        if out.returncode != 0:
            try:
                code = json.loads(out.stdout)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = f"exit {out.returncode}"
            self.failures.append((op, code))
            return None
        return json.loads(out.stdout)

    def run(self):
        self.start_barrier.wait()
        if self.via == "claim-run":
            return self.run_supervised()
        for r in range(self.rounds):
            self.run_jit("create", ["issue", "create", f"{self.name} round {r}", "--state",
                                    "ready"])
            claimed = self.run_jit("claim", ["claim", "--agent", self.name])
            if claimed is None:
                continue
            iid, token = claimed["issue"]["id"], str(claimed["token"])
            self.run_jit("update", ["issue", "update", iid, "--add-label", f"bench:r{r}",
                                    "--claim-token", token])
            self.run_jit("done", ["issue", "update", iid, "--state", "done", "--claim-token",
                                  token])

    def run_supervised(self):
        for r in range(self.rounds):
            self.run_jit("create", ["issue", "create", f"{self.name} round {r}", "--state",
                                    "ready"])
            child = ('exec "$0" --repo "$1" --quiet issue update "$JIT_ISSUE_ID" '
                     '--add-label "bench:r$2" > /dev/null')
            result = self.run_jit("claim run", [
                "claim", "run", "--agent", self.name, "--",
                "sh", "-c", child, self.jit, self.repo, str(r)])
            if result is not None and result.get("outcome") != "succeeded":
                self.failures.append(("claim run", result.get("outcome")))


class McpServer(mcp_bench.Server):
    """One `jit mcp` server process (scripts/mcp_bench.py's client), whose calls report a
    failure by its code instead of stopping the run."""

    def __init__(self, jit, repo, env):
        super().__init__(jit, repo, env, client="agents_bench")

    def call(self, tool, args):
        """(result, error code or None) of one tools/call."""
        reply = self.request("tools/call", {"name": tool, "arguments": args})
        if "error" in reply:
            return None, f"JSON-RPC {reply['error'].get('code')}"
        r = reply["result"]
        body = r.get("structuredContent")
        if body is None:
            body = json.loads(r["content"][0]["text"])
        err = body.get("error") if isinstance(body, dict) else None
        if r.get("isError") or err:
            return None, (err or {}).get("code", "tool error")
        return body, None

    def cpu_ticks(self):
        """utime + stime of the server, in clock ticks (/proc/PID/stat fields 14 and 15)."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])


class McpAgent(threading.Thread):
    """The rounds of `Agent`, as tool calls to the agent's own `jit mcp` server."""

    def __init__(self, server, name, rounds, start):
        super().__init__()
        self.server, self.name, self.rounds = server, name, rounds
        self.start_barrier = start
        self.times = {op: [] for op in OPS}
        self.failures = []

    def call(self, op, tool, args):
        t = time.perf_counter()
        body, code = self.server.call(tool, args)
        self.times[op].append((time.perf_counter() - t) * 1000.0)
        if code is not None:
            self.failures.append((op, code))
        return body

    def run(self):
        self.start_barrier.wait()
        for r in range(self.rounds):
            self.call("create", "create", {"title": f"{self.name} round {r}",
                                           "state": "ready"})
            claimed = self.call("claim", "claim", {"agent": self.name})
            if claimed is None:
                continue
            iid, token = claimed["issue"]["id"], claimed["token"]
            self.call("update", "update", {"id": iid, "add_labels": [f"bench:r{r}"],
                                           "claim_token": token})
            self.call("done", "update", {"id": iid, "state": "done", "claim_token": token})


def start_mcp_servers(jit, repo, env, agents):
    """One warm `jit mcp` server per agent, started and warmed in parallel."""
    servers = [None] * agents

    def start(i):
        s = McpServer(jit, repo, env)
        s.call("query", {"filter": "state:ready", "limit": 1})  # builds its warm index
        servers[i] = s

    threads = [threading.Thread(target=start, args=(i,)) for i in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [i for i, s in enumerate(servers) if s is None]
    if missing:
        raise SystemExit(f"{len(missing)} jit mcp servers did not start")
    return servers


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def start_daemon(jit, repo, env):
    """`jit serve --detach` for the repository; returns its pid once it serves, warm."""
    subprocess.run([jit, "--repo", repo, "--quiet", "serve", "--detach"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    status = json.loads(subprocess.run([jit, "--repo", repo, "serve", "--status", "--json"],
                                       env=env, check=True, capture_output=True,
                                       text=True).stdout)
    # The daemon's first read builds its warm index: not part of what is timed.
    subprocess.run([jit, "--repo", repo, "ready", "--limit", "1", "--json"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return status["pid"]


def stop_daemon(jit, repo, env):
    subprocess.run([jit, "--repo", repo, "--quiet", "serve", "--stop"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def run_config(jit, seed, bench_dir, durability, agents, rounds, via="commands",
               mode="direct"):
    repo = os.path.join(bench_dir, "run")
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(seed, repo, symlinks=True)
    env = env_for(durability)
    # A copy has new inodes: let a reader rebuild and save the index before timing.
    for _ in range(2):
        subprocess.run([jit, "--repo", repo, "issue", "list", "--count"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        time.sleep(1)
    pid = start_daemon(jit, repo, env) if mode == "served" else None
    if pid is not None:
        log(f"  jit serve running, pid {pid}")
        hook = os.environ.get("BENCH_SERVE_HOOK")
        if hook:  # e.g. a profiler to attach: run with the daemon's pid as its argument
            subprocess.Popen([hook, str(pid)])
    servers = start_mcp_servers(jit, repo, env, agents) if mode == "mcp" else []
    if servers:
        log(f"  {len(servers)} jit mcp servers running, warm")
    load_before = loadavg()
    start = threading.Barrier(agents + 1)
    if servers:
        threads = [McpAgent(s, f"agent:b{i}", rounds, start) for i, s in enumerate(servers)]
    else:
        threads = [Agent(jit, repo, env, f"agent:b{i}", rounds, start, via)
                   for i in range(agents)]
    for t in threads:
        t.start()
    server_ticks = sum(s.cpu_ticks() for s in servers)
    client_cpu = os.times()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    client_cpu = [b - a for a, b in zip(client_cpu, os.times())]
    server_ticks = sum(s.cpu_ticks() for s in servers) - server_ticks
    load_after = loadavg()
    for s in servers:
        s.close()
    if pid is not None:
        stop_daemon(jit, repo, env)
    metrics = json.loads(subprocess.run(
        [jit, "--repo", repo, "metrics", "--since", "all", "--json"], env=env, check=True,
        capture_output=True, text=True).stdout)
    ops = OPS if via == "commands" else RUN_OPS
    times = {op: [x for t in threads for x in t.times[op]] for op in ops}
    failures = [f for t in threads for f in t.failures]
    total = sum(len(v) for v in times.values())
    if via == "claim-run":
        # One `claim run` is three committed operations: count what the event log holds.
        total = sum(o["count"] for o in metrics["operations"]
                    if o["op"] in ("create", "claim", "update", "release"))
    shutil.rmtree(repo, ignore_errors=True)
    return {
        "agents": agents, "rounds": rounds, "durability": durability, "wall_s": wall,
        "via": via, "mode": mode, "load_before": load_before, "load_after": load_after,
        "ops": total, "ops_per_s": total / wall if wall else 0.0,
        "per_op": {op: {"n": len(v), "p50": percentile(v, 0.5), "p95": percentile(v, 0.95),
                        "p99": percentile(v, 0.99), "max": max(v, default=0.0)}
                   for op, v in times.items()},
        "lock_wait": metrics["lock_wait"],
        "txn": {o["op"]: o for o in metrics["operations"]},
        "failures": len(failures),
        "lock_timeouts": sum(1 for _, c in failures if c == "LOCK_TIMEOUT"),
        "failure_codes": sorted({c for _, c in failures}),
        # The harness's own CPU over the timed window (user + system; in the CLI modes it
        # excludes its child processes), and the jit mcp servers' (mcp mode only).
        "client_cpu_s": client_cpu[0] + client_cpu[1],
        "server_cpu_s": server_ticks / os.sysconf("SC_CLK_TCK") if servers else None,
    }


def load_cell(r):
    if "load_before" not in r:
        return ""
    return f"{r['load_before']} → {r['load_after']}"


def ms(v):
    """Milliseconds: a tenth below 10 ms (a `jit mcp` call takes well under one)."""
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


def cpu_cell(r):
    """The jit mcp servers' and the harness's CPU over the timed window."""
    if r.get("server_cpu_s") is None:
        return f"– / {r['client_cpu_s']:.1f}" if "client_cpu_s" in r else ""
    return f"{r['server_cpu_s']:.1f} / {r['client_cpu_s']:.1f}"


def run_table(results):
    """The rows measured through `claim run`."""
    lines = [
        "",
        "Through `jit claim run` (the supervisor claims, its command updates, it moves the "
        "issue to done):",
        "",
        "| agents x rounds | mode | durability | ops/s | create p50/p95/p99/max ms | claim run "
        "p50/p95/p99/max ms | lock wait p50/p99 ms | claim transaction p50/p99 ms | release "
        "transaction p50/p99 ms | failures (LOCK_TIMEOUT) | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = []
        for op in RUN_OPS:
            s = r["per_op"][op]
            cells.append(f"{s['p50']:.0f} / {s['p95']:.0f} / {s['p99']:.0f} / {s['max']:.0f}")
        lw = r["lock_wait"]
        zero = {"p50_ms": 0, "p99_ms": 0}
        claim, release = r["txn"].get("claim", zero), r["txn"].get("release", zero)
        fails = f"{r['failures']} ({r['lock_timeouts']})"
        if r["failure_codes"]:
            fails += " " + ", ".join(str(c) for c in r["failure_codes"])
        lines.append(
            f"| {r['agents']} x {r['rounds']} | {r.get('mode', 'direct')} | {r['durability']} | "
            f"{r['ops_per_s']:.0f} | "
            + " | ".join(cells) + f" | {lw['p50_ms']} / {lw['p99_ms']} | "
            f"{claim['p50_ms']} / {claim['p99_ms']} | {release['p50_ms']} / "
            f"{release['p99_ms']} | {fails} | {load_cell(r)} |")
    return "\n".join(lines) + "\n"


def table(results, load_start, load_end, issues):
    supervised = [r for r in results if r.get("via") == "claim-run"]
    results = [r for r in results if r.get("via", "commands") == "commands"]
    lines = [
        f"Repository: {issues} generated issues (copied afresh per row). Load average "
        f"(1, 5, 15 min) at start {load_start}, at end {load_end}; "
        f"{os.cpu_count()} CPUs.",
        "",
        "| agents x rounds | mode | durability | ops/s | create p50/p95/p99/max ms | claim "
        "p50/p95/p99/max ms | update p50/p95/p99/max ms | done p50/p95/p99/max ms | lock wait "
        "p50/p99 ms | claim transaction p50/p99 ms | failures (LOCK_TIMEOUT) | load before → "
        "after | CPU s: servers / client |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = []
        for op in OPS:
            s = r["per_op"][op]
            cells.append(" / ".join(ms(s[k]) for k in ("p50", "p95", "p99", "max")))
        lw = r["lock_wait"]
        tx = r["txn"].get("claim", {"p50_ms": 0, "p99_ms": 0})
        fails = f"{r['failures']} ({r['lock_timeouts']})"
        if r["failure_codes"]:
            fails += " " + ", ".join(r["failure_codes"])
        lines.append(
            f"| {r['agents']} x {r['rounds']} | {r.get('mode', 'direct')} | {r['durability']} | "
            f"{r['ops_per_s']:.0f} | "
            + " | ".join(cells) + f" | {lw['p50_ms']} / {lw['p99_ms']} | "
            f"{tx['p50_ms']} / {tx['p99_ms']} | {fails} | {load_cell(r)} | {cpu_cell(r)} |")
    text = "\n".join(lines) + "\n"
    if supervised:
        text += run_table(supervised)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--only", nargs="*", help="configurations such as 10x50, in this order")
    ap.add_argument("--durability", nargs="*", default=["full", "relaxed"])
    ap.add_argument("--via", nargs="*", default=["commands"],
                    choices=["commands", "claim-run"],
                    help="one command per step, or the same rounds through `claim run`")
    ap.add_argument("--mode", nargs="*", default=None, choices=["direct", "served", "mcp"],
                    help="without a daemon, with `jit serve` running for the repository, or "
                    "each agent through its own persistent `jit mcp` server")
    ap.add_argument("--serve", action="store_true", help="the same as --mode served")
    args = ap.parse_args()
    modes = args.mode or (["served"] if args.serve else ["direct"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench_dir = os.path.abspath(os.environ.get("BENCH_DIR", os.path.join(root, "target",
                                                                           "bench-agents")))
    out = os.environ.get("BENCH_OUT", os.path.join(root, "target", "bench-agents.md"))
    os.makedirs(bench_dir, exist_ok=True)
    # The scratch repositories may sit inside the project's git work tree (the default, under
    # target/): as their own trackers, outside it, so that their local state (leases, the
    # serve daemon's socket) stays in each .jit/local/, not in the project's git directory.
    os.environ["GIT_CEILING_DIRECTORIES"] = bench_dir
    built = build(root)
    jit = os.path.join(bench_dir, "jit")  # a private copy: a rebuild meanwhile changes nothing
    shutil.copy2(built, jit)
    configs = CONFIGS
    if args.only:
        configs = [tuple(int(x) for x in c.split("x")) for c in args.only]
    seed = make_seed(root, jit, bench_dir, args.issues)
    load_start = open("/proc/loadavg").read().split()[:3]
    results = []
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    # Per configuration, both durabilities; the table is rewritten after each row, so an
    # interrupted run keeps what it measured.
    for agents, rounds in configs:
        for durability in args.durability:
            for via in args.via:
                for mode in modes:
                    if mode == "mcp" and via != "commands":
                        continue  # `claim run` is a CLI command: no MCP tool runs one
                    log(f"{agents} agents x {rounds} rounds, {durability} durability, via {via}"
                        f", {mode}")
                    r = run_config(jit, seed, bench_dir, durability, agents, rounds, via, mode)
                    first = "claim" if via == "commands" else "claim run"
                    log(f"  {r['ops']} operations in {r['wall_s']:.1f} s: "
                        f"{r['ops_per_s']:.0f}/s, {first} p50 "
                        f"{r['per_op'][first]['p50']:.0f} ms, {r['failures']} failures, load "
                        f"{r['load_before']} -> {r['load_after']}, CPU s servers / client "
                        f"{cpu_cell(r)}")
                    results.append(r)
                    load_now = open("/proc/loadavg").read().split()[:3]
                    text = table(results, " ".join(load_start), " ".join(load_now),
                                 args.issues)
                    open(out, "w").write(text)
                    with open(os.path.splitext(out)[0] + ".json", "w") as f:
                        json.dump(results, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
