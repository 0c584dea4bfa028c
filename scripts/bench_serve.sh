#!/usr/bin/env bash
# Times the CLI through `jit serve` against direct runs, and `jit mcp` per call against the
# CLI, on repositories it generates with scripts/gen_repo.py (as scripts/bench.sh does:
# `jit init`, then `gen_repo.py REPO N --deps 1.5 --marked 100`), in the same run; reads the
# daemon's and the MCP server's RSS over many requests. See docs/performance.md ("jit serve",
# "jit mcp") for what the figures mean.
#
# Usage: scripts/bench_serve.sh JIT SCRATCH N...   e.g. scripts/bench_serve.sh \
#            target/release/jit "$(mktemp -d)" 1000 10000 100000 1000000
#
# SCRATCH/repo-N is made if missing (kept for the next run), except that a repository of
# more than BENCH_KEEP_MAX issues is deleted when its figures are taken (disk matters:
# 1M issues take about 6 GB). Only `issue list --json` is timed at more than 100k issues.
#
# Environment:
#   BENCH_BEFORE   another jit binary (an older build) timed directly beside JIT, to show
#                  that direct mode did not get slower (default: none)
#   BENCH_RUNS     minimum hyperfine runs per command (default: 30)
#   BENCH_RSS_N    commands sent through the daemon for its RSS figure (default: 2000)
#   BENCH_LIST     also time `issue list --json` up to 100k issues (default: 0)
#   BENCH_MCP_AT   the size at which `jit mcp` is measured (default: 10000; 0: not at all)
#   BENCH_MCP_N    calls per tool for the MCP latencies (default: 500)
#   BENCH_MCP_RSS  calls for the MCP server's RSS figure (default: 100000)
#   BENCH_KEEP_MAX see above (default: 100000)
set -euo pipefail
jit=$(realpath "$1")
scratch=$(realpath "$2")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
runs=${BENCH_RUNS:-30}
rss_n=${BENCH_RSS_N:-2000}
mcp_at=${BENCH_MCP_AT:-10000}
mcp_n=${BENCH_MCP_N:-500}
mcp_rss=${BENCH_MCP_RSS:-100000}
keep_max=${BENCH_KEEP_MAX:-100000}
unset JIT_DIR JIT_NOW JIT_SEED JIT_DURABILITY JIT_TEST_FAULT JIT_NO_SERVE
# The scratch repositories are not in a git work tree of their own: `init` must not look
# further up for one.
export GIT_CEILING_DIRECTORIES=$scratch
Q_SMALL='priority:critical AND label:type:bug AND state:ready'
echo "$("$jit" --version) on $(nproc) cores; $(uptime)"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# hyperfine without a shell (-N: no shell start-up to subtract; output to /dev/null),
# printing only the rows of its table (mean ± σ, min, max, relative; ms). A direct run is
# `JIT_NO_SERVE=1 hf ...`.
hf() {
  local md
  md=$(mktemp)
  hyperfine -N --warmup 3 --export-markdown "$md" "$@" >/dev/null 2>&1
  grep '^| `' "$md"
  rm -f "$md"
}

make_repo() {
  local n=$1 repo=$2
  [ -f "$repo/.done" ] && return
  rm -rf "$repo"
  mkdir -p "$repo"
  "$jit" --repo "$repo" --quiet init >/dev/null
  python3 "$here/gen_repo.py" "$repo" "$n" --deps 1.5 --marked 100
  # Build the index, then once more when no stamp is in the racy window any more.
  JIT_NO_SERVE=1 "$jit" --repo "$repo" issue list --count >/dev/null
  sleep 1
  JIT_NO_SERVE=1 "$jit" --repo "$repo" issue list --count >/dev/null
  touch "$repo/.done"
}

serve_start() { "$jit" --repo "$1" serve --detach >/dev/null; }
serve_pid() { "$jit" --repo "$1" serve --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
serve_stop() { "$jit" --repo "$1" serve --stop >/dev/null; }

# The CLI, direct and through `jit serve`, for the small query and show (and the listing).
cli_reads() {
  local n=$1 repo=$2 id=$3
  local cmds=("query '$Q_SMALL' --json" "issue show $id --json")
  [ "${BENCH_LIST:-0}" = 1 ] && cmds+=("issue list --json")
  for c in "${cmds[@]}"; do
    local args=()
    [ -n "${BENCH_BEFORE:-}" ] && args+=(-n "before: $c" "$BENCH_BEFORE --repo $repo $c")
    args+=(-n "direct: $c" "$jit --repo $repo $c")
    JIT_NO_SERVE=1 hf --min-runs "$runs" "${args[@]}"
    hf --min-runs "$runs" -n "no daemon: $c" "$jit --repo $repo $c"
  done
  serve_start "$repo"
  local pid
  pid=$(serve_pid "$repo")
  for c in "${cmds[@]}"; do
    hf --min-runs "$runs" -n "served: $c" "$jit --repo $repo $c"
  done
  local before mid after
  before=$(rss "$pid")
  for _ in $(seq 1 "$rss_n"); do "$jit" --repo "$repo" query "$Q_SMALL" --json >/dev/null; done
  mid=$(rss "$pid")
  for _ in $(seq 1 "$rss_n"); do "$jit" --repo "$repo" issue show "$id" --json >/dev/null; done
  after=$(rss "$pid")
  echo "daemon RSS (KiB) at $n: after warm-up $before, after $rss_n queries $mid, after $rss_n shows more $after"
  serve_stop "$repo"
}

# `issue list --json` only (a big repository): direct and served, a few runs.
cli_list() {
  local n=$1 repo=$2
  local c="issue list --json"
  JIT_NO_SERVE=1 hf --runs 3 -n "direct: $c" "$jit --repo $repo $c"
  serve_start "$repo"
  local pid
  pid=$(serve_pid "$repo")
  hf --runs 5 -n "served: $c" "$jit --repo $repo $c"
  echo "daemon RSS (KiB) at $n after the listings: $(rss "$pid")"
  serve_stop "$repo"
}

# `jit mcp` per call from one persistent client, and the CLI commands that do the same,
# direct and served, in the same run; then the server's RSS over many calls.
mcp_and_cli() {
  local n=$1 repo=$2 id=$3
  echo "-- jit mcp at $n: per call (ms), from scripts/mcp_bench.py"
  python3 "$here/mcp_bench.py" latency "$jit" "$repo" "$mcp_n" "$Q_SMALL"
  local cmds=("issue show $id --json" "query '$Q_SMALL' --limit 20 --json"
    "issue create 'bench cli' --json" "claim --agent agent:cli --json")
  # Exactly $runs runs each (not hyperfine's "at least 3 s"): the claims must not run out
  # of ready issues.
  for c in "${cmds[@]}"; do
    JIT_NO_SERVE=1 hf --runs "$runs" -n "direct: $c" "$jit --repo $repo $c"
  done
  serve_start "$repo"
  for c in "${cmds[@]}"; do
    hf --runs "$runs" -n "served: $c" "$jit --repo $repo $c"
  done
  serve_stop "$repo"
  echo "-- jit mcp RSS (KiB) over $mcp_rss calls (show and query alternately)"
  python3 "$here/mcp_bench.py" rss "$jit" "$repo" "$mcp_rss" "$Q_SMALL"
}

mkdir -p "$scratch"
for n in "$@"; do
  repo=$scratch/repo-$n
  make_repo "$n" "$repo"
  id=$(find "$repo/.jit/issues" -name '*.json' -print -quit)
  id=$(basename "$id" .json)
  echo "== $n issues; $(uptime)"
  if [ "$n" -gt 100000 ]; then
    cli_list "$n" "$repo"
  else
    cli_reads "$n" "$repo" "$id"
  fi
  if [ "$n" = "$mcp_at" ]; then
    mcp_and_cli "$n" "$repo" "$id"
    # Its writes changed it: the next run starts from a fresh one.
    rm -f "$repo/.done"
  fi
  if [ "$n" -gt "$keep_max" ]; then
    rm -rf "$repo"
  fi
done
echo "at the end: $(uptime)"
