#!/usr/bin/env python3
"""The fair lock's two figures, for one or more binaries in the same run:

- 8 concurrent updaters: 8 threads, each running `jit issue update ID --add-label ...` on
  its own issue, ROUNDS times one after another; p50/p99/max of each command's wall time.
- 20 writers beside a bulk-update loop: 20 such threads, while one more runs
  `jit issue bulk-update --filter label:bench:hundred -p high|low` (100 issues) back to back
  until the writers are done; the share of writes that fail with LOCK_TIMEOUT (the default
  10 s lock timeout), and their p50/p99/max.

Both against a fresh repository of ISSUES generated issues (scripts/gen_repo.py) per binary
and workload, full durability. The binaries run one after another, workload by workload, so
that they meet the same machine load; `uptime` is printed before and after each.

Usage: scripts/fair_lock_bench.py [--issues N (>= 100)] [--rounds R] NAME=BINARY ...
  e.g. scripts/fair_lock_bench.py before=../old/jit after=target/release/jit

Environment: BENCH_DIR, the scratch directory (default: target/bench-fair).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from agents_bench import log, percentile  # beside this script


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def env_for(bench_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIT_")}
    env["JIT_LOCK_TIMEOUT_MS"] = "10000"
    env["GIT_CEILING_DIRECTORIES"] = os.path.dirname(os.path.abspath(bench_dir))
    return env


def make_repo(root, jit, path, issues, env):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    subprocess.run([jit, "init"], cwd=path, env=env, check=True, stdout=subprocess.DEVNULL)
    gen = os.path.join(root, "scripts", "gen_repo.py")
    subprocess.run([sys.executable, gen, "--marked", "100", path, str(issues)], check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([jit, "issue", "list", "--json", "--limit", "1000000"], cwd=path,
                         env=env, check=True, capture_output=True, text=True).stdout
    return [i["id"] for i in json.loads(out)]


def writer(jit, repo, env, issue, rounds, tag, times, failures):
    for r in range(rounds):
        start = time.monotonic()
        p = subprocess.run([jit, "issue", "update", issue, "--add-label", f"{tag}:r{r}",
                            "--json"], cwd=repo, env=env, capture_output=True, text=True)
        took = (time.monotonic() - start) * 1000
        times.append(took)
        if p.returncode != 0:
            code = "?"
            try:
                code = json.loads(p.stdout)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                pass
            failures.append(code)


def bulk_loop(jit, repo, env, stop, counts):
    n = 0
    while not stop.is_set():
        prio = "high" if n % 2 else "low"
        p = subprocess.run([jit, "issue", "bulk-update", "--filter", "label:bench:hundred",
                            "-p", prio, "--json"], cwd=repo, env=env, capture_output=True)
        counts.append(p.returncode)
        n += 1


def run(jit, repo, env, ids, writers, rounds, with_bulk):
    times, failures, bulks = [], [], []
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(jit, repo, env, ids[w], rounds, f"w{w}",
                                                     times, failures))
               for w in range(writers)]
    bulk = threading.Thread(target=bulk_loop, args=(jit, repo, env, stop, bulks))
    start = time.monotonic()
    if with_bulk:
        bulk.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    stop.set()
    if with_bulk:
        bulk.join()
    timeouts = sum(1 for f in failures if f == "LOCK_TIMEOUT")
    return {
        "writes": len(times), "wall_s": round(wall, 1),
        "p50": round(percentile(times, 0.50)), "p99": round(percentile(times, 0.99)),
        "max": round(max(times)), "failures": len(failures), "lock_timeouts": timeouts,
        "timeout_pct": round(100.0 * timeouts / len(times), 2),
        "bulk_updates": len(bulks), "bulk_failures": sum(1 for c in bulks if c != 0),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--issues", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("binaries", nargs="+", metavar="NAME=BINARY")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench_dir = os.environ.get("BENCH_DIR", os.path.join(root, "target", "bench-fair"))
    os.makedirs(bench_dir, exist_ok=True)
    env = env_for(bench_dir)
    bins = [b.split("=", 1) for b in args.binaries]
    rows = []
    for label, writers, bulk in [("8 updaters", 8, False), ("20 writers + bulk-update loop",
                                                             20, True)]:
        for name, jit in bins:
            jit = os.path.abspath(jit)
            repo = os.path.join(bench_dir, f"repo-{name}")
            ids = make_repo(root, jit, repo, args.issues, env)
            before = uptime()
            log(f"{label}, {name}: {before}")
            r = run(jit, repo, env, ids, writers, args.rounds, bulk)
            r.update(workload=label, binary=name, uptime_before=before, uptime_after=uptime())
            log(json.dumps(r))
            rows.append(r)
    print(f"{args.issues} issues, {args.rounds} updates per writer, full durability, "
          f"lock timeout 10 s\n")
    print("| workload | binary | writes | p50 ms | p99 ms | max ms | LOCK_TIMEOUT | "
          "other failures | bulk-updates (failed) | wall s | load before → after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    def la(u):
        return u.split("load average:")[-1].strip()

    for r in rows:
        print(f"| {r['workload']} | {r['binary']} | {r['writes']} | {r['p50']} | {r['p99']} | "
              f"{r['max']} | {r['lock_timeouts']} ({r['timeout_pct']} %) | "
              f"{r['failures'] - r['lock_timeouts']} | {r['bulk_updates']} "
              f"({r['bulk_failures']}) | {r['wall_s']} | {la(r['uptime_before'])} → "
              f"{la(r['uptime_after'])} |")


if __name__ == "__main__":
    main()
