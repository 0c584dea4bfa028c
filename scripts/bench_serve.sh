#!/usr/bin/env bash
# Times the CLI through `jit serve` against direct runs, with hyperfine, on repositories that
# scripts/gen_repo.py made (as scripts/bench.sh does: `jit init`, then
# `gen_repo.py REPO N --deps 1.5 --marked 100`), and measures the daemon's RSS over many
# commands. See docs/performance.md (section "jit serve") for what the figures mean.
#
# Usage: scripts/bench_serve.sh JIT REPO...     e.g. scripts/bench_serve.sh \
#            target/release/jit /scratch/repo-10000 /scratch/repo-100000
#
# Environment:
#   BENCH_BEFORE   another jit binary (an older build) timed directly beside JIT, to show
#                  that direct mode did not get slower (default: none)
#   BENCH_RUNS     minimum hyperfine runs per command (default: 30)
#   BENCH_RSS_N    commands sent through the daemon for the RSS figure (default: 2000)
#   BENCH_LIST     also time `issue list --json` (default: 1; set 0 to skip it on big repos
#                  where only the 1M figure is wanted)
set -euo pipefail
jit=$1
shift
runs=${BENCH_RUNS:-30}
rss_n=${BENCH_RSS_N:-2000}
unset JIT_DIR JIT_NOW JIT_SEED JIT_DURABILITY JIT_TEST_FAULT JIT_NO_SERVE
Q_SMALL='priority:critical AND label:type:bug AND state:ready'
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

for repo in "$@"; do
  n=$(find "$repo/.jit/issues" -name '*.json' | wc -l)
  id=$(find "$repo/.jit/issues" -name '*.json' -print -quit)
  id=$(basename "$id" .json)
  echo "== $repo ($n issues)"
  # Warm the index (a first read after generation builds it).
  JIT_NO_SERVE=1 "$jit" --repo "$repo" issue list --count >/dev/null
  cmds=(
    "query '$Q_SMALL' --json"
    "issue show $id --json"
  )
  [ "${BENCH_LIST:-1}" = 1 ] && cmds+=("issue list --json")
  for c in "${cmds[@]}"; do
    args=()
    if [ -n "${BENCH_BEFORE:-}" ]; then
      args+=(-n "before: $c" "$BENCH_BEFORE --repo $repo $c >/dev/null")
    fi
    args+=(-n "direct: $c" "JIT_NO_SERVE=1 $jit --repo $repo $c >/dev/null")
    args+=(-n "no daemon: $c" "$jit --repo $repo $c >/dev/null")
    hyperfine --warmup 3 --min-runs "$runs" --export-markdown /dev/stdout "${args[@]}" \
      2>/dev/null | grep '^|'
  done
  "$jit" --repo "$repo" serve --detach >/dev/null
  pid=$("$jit" --repo "$repo" serve --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  for c in "${cmds[@]}"; do
    hyperfine --warmup 3 --min-runs "$runs" --export-markdown /dev/stdout \
      -n "served: $c" "$jit --repo $repo $c >/dev/null" 2>/dev/null | grep '^|' | tail -1
  done
  before=$(rss "$pid")
  for _ in $(seq 1 "$rss_n"); do "$jit" --repo "$repo" query "$Q_SMALL" --json >/dev/null; done
  mid=$(rss "$pid")
  for _ in $(seq 1 "$rss_n"); do "$jit" --repo "$repo" query "$Q_SMALL" --json >/dev/null; done
  after=$(rss "$pid")
  echo "daemon RSS (KiB): after warm-up $before, after $rss_n more queries $mid, after $((2 * rss_n)) $after"
  "$jit" --repo "$repo" serve --stop >/dev/null
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
