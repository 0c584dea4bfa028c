#!/usr/bin/env bash
# Performance harness for jit: builds the release binary, makes repositories of 1k, 10k and
# 100k synthetic issues (scripts/gen_repo.py writes the files directly, as jit would, with
# ~1.5 dependencies per issue and 100 issues labelled bench:hundred), times the common
# commands, queries, bulk updates, graph commands, gate runs and validate with hyperfine, and prints a markdown table (also written to
# target/bench-results.md). See docs/performance.md for what the figures mean.
#
# Usage: scripts/bench.sh [SCALE ...]          e.g. scripts/bench.sh 1000 10000
#
# Environment:
#   BENCH_DIR          scratch directory for repositories and raw results
#                      (default: target/bench-repos)
#   BENCH_OUT          where the markdown goes (default: target/bench-results.md)
#   BENCH_RUNS         minimum hyperfine runs of each read command (default: 30)
#   BENCH_CREATE_RUNS  hyperfine runs of `issue create` per durability (default: 50)
#   BENCH_CONC_ROUNDS  timed rounds of the 8 x 100 concurrent creates (default: 5)
#   BENCH_SLOW_RUNS    minimum runs of the slower commands (graph export and rdeps, ready,
#                      bulk-update, which take up to seconds at 100k) (default: 10)
#
# Read commands run against the generated repository, which they do not change. Every write
# (bulk-update, dep add, marking done, gate run, then single and concurrent creates) goes to
# a fresh copy of it, `repo-N-write`, which grows by
# about (3 + BENCH_CREATE_RUNS) x 2 + 800 x (BENCH_CONC_ROUNDS + 1) x 2 issues over the run
# (the single creates run first, while the copy is within ~100 issues of its nominal size);
# the copies are deleted at the end of the run. Caches are warm throughout (hyperfine
# --warmup 3): these are hot-cache figures.
set -euo pipefail

PROCS=8
PER_PROC=100

# Internal: one round of the concurrent test (run by hyperfine): PROCS processes, each
# creating PER_PROC issues one after another. Fails if any create fails.
if [ "${1:-}" = "--concurrent-round" ]; then
  jit=$2 repo=$3
  pids=()
  for p in $(seq 1 "$PROCS"); do
    (
      for i in $(seq 1 "$PER_PROC"); do
        "$jit" --repo "$repo" --quiet issue create "Concurrent issue $p.$i" -l type:bench \
          >/dev/null || exit 1
      done
    ) &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  exit "$status"
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(1000 10000 100000)
bench_dir=${BENCH_DIR:-target/bench-repos}
out=${BENCH_OUT:-target/bench-results.md}
runs=${BENCH_RUNS:-30}
create_runs=${BENCH_CREATE_RUNS:-50}
conc_rounds=${BENCH_CONC_ROUNDS:-5}
slow_runs=${BENCH_SLOW_RUNS:-10}
unset JIT_DIR JIT_NOW JIT_SEED JIT_DURABILITY JIT_TEST_FAULT

log() { printf '\n== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing hyperfine"
    apt-get update -qq && apt-get install -y -qq hyperfine >&2
  else
    echo "bench.sh: hyperfine is missing; install it (Debian/Ubuntu: sudo apt-get install" \
      "hyperfine; elsewhere: cargo install hyperfine) and run again" >&2
    exit 1
  fi
fi
command -v python3 >/dev/null || { echo "bench.sh: python3 is required" >&2; exit 1; }

# --- binary ------------------------------------------------------------------------------
log "building the release binary"
cargo build --release --quiet --bin jit
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p "$bench_dir" "$(dirname "$out")"
bench_dir=$(cd "$bench_dir" && pwd)
# The scratch repositories are not in the project's git work tree: `init` must not register
# the merge driver in the project's git config.
export GIT_CEILING_DIRECTORIES=$bench_dir
# A private copy, so that a rebuild by someone else during the run changes nothing.
jit="$bench_dir/jit"
cp "$target_dir/release/jit" "$jit"
results="$bench_dir/results"
rm -rf "$results" "$bench_dir"/repo-*-write "$bench_dir"/repo-*-batch # the latter only after an interrupted run
mkdir -p "$results"

# hyperfine with the common options; $1 = result name, then hyperfine arguments.
hf() {
  local name=$1
  shift
  hyperfine --export-json "$results/$name.json" "$@" >&2
}

# --- repositories --------------------------------------------------------------------------
gen_stamp=$(cksum <scripts/gen_repo.py | cut -d' ' -f1)
# Build (or refresh) the index. The second pass, a second later, finds every stamp trusted
# (no file is within the racy window any more) and so measures nothing new. Needed after
# `cp -a` too: a copy has new inode numbers, so every stamp is stale, and only a reader saves
# the rebuilt index (a writer's snapshot re-reads every file, every time, until one does).
refresh_index() {
  "$jit" --repo "$1" issue list --json >/dev/null
  sleep 1
  "$jit" --repo "$1" issue list --json >/dev/null
}

make_repo() {
  local n=$1 repo=$2
  if [ "$(cat "$repo.stamp" 2>/dev/null)" = "$n $gen_stamp" ]; then
    log "reusing $repo ($n issues)"
  else
    log "generating $repo ($n issues)"
    rm -rf "$repo" "$repo.stamp"
    mkdir -p "$repo"
    "$jit" --repo "$repo" --quiet init >/dev/null
    python3 scripts/gen_repo.py "$repo" "$n" --deps 1.5 --marked 100
    echo "$n $gen_stamp" >"$repo.stamp"
    sync
  fi
  refresh_index "$repo"
  local count
  count=$(find "$repo/.jit/issues" -name '*.json' | wc -l)
  [ "$count" -eq "$n" ] || { echo "bench.sh: $repo has $count issues, not $n" >&2; exit 1; }
}

# Check once that jit reads a generated file and writes back the same document.
check_format() {
  local repo=$1 f id
  for f in $(find "$repo/.jit/issues" -name '*.json' | head -n 5); do
    id=$(basename "$f" .json)
    "$jit" --repo "$repo" issue show "$id" --json | python3 -c '
import json, sys
sys.stdout.write(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False) + "\n")' |
      cmp -s - "$f" || { echo "bench.sh: $f is not in the format jit writes" >&2; exit 1; }
  done
}

# An id prefix of $2 characters (or longer, if needed) naming exactly one issue.
unique_prefix() {
  local repo=$1 id=$2 len=8
  while [ "$(find "$repo/.jit/issues" -name "${id:0:len}*.json" | wc -l)" -ne 1 ]; do
    len=$((len + 1))
  done
  echo "${id:0:len}"
}

# The filters timed at every scale: a small result, and one with a free-text term.
Q_SMALL='priority:critical AND label:type:bug AND state:ready'
Q_TEXT='"clock skew" AND priority:critical'
Q_HUNDRED='label:bench:hundred'

# Issues for the graph and write benchmarks, chosen from `issue list --json` on stdin:
# HUB (most direct dependents), DEP_A DEP_B (A is in the middle; B is older, not yet a
# dependency of A), DONE (no dependencies, at least one dependent, no gates, in a state that
# may move to in_progress), GATE (another
# issue without dependencies), then the number of dependency edges.
pick_issues() {
  python3 -c '
import collections, json, sys
issues = sorted(json.load(sys.stdin), key=lambda i: i["id"])
rdeps = collections.Counter(d for i in issues for d in i["dependencies"])
hub = max(issues, key=lambda i: (rdeps[i["id"]], i["id"]))["id"]
mid = len(issues) // 2
a = issues[mid]
b = next(i["id"] for i in reversed(issues[:mid - 100])
         if i["id"] not in a["dependencies"])
free = [i for i in issues[mid:] if not i["dependencies"] and not i["gates"]]
done = next(i for i in free if rdeps[i["id"]] > 0
            and i["state"] in ("ready", "in_progress", "done"))["id"]
gate = next(i for i in free if i["id"] != done)["id"]
print(hub, a["id"], b, done, gate, sum(rdeps.values()))'
}

# How many issues a JSON array on stdin holds.
count_json() { python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

for n in "${scales[@]}"; do
  repo="$bench_dir/repo-$n"
  make_repo "$n" "$repo"
  check_format "$repo"
  id=$(find "$repo/.jit/issues" -name '*.json' -printf '%f\n' | sort | sed -n "$((n / 2 + 1))p")
  id=${id%.json}
  prefix=$(unique_prefix "$repo" "$id")

  log "$n issues: reads"
  hf "$n-version" -N --warmup 3 --min-runs "$runs" "$jit --version"
  hf "$n-show-id" -N --warmup 3 --min-runs "$runs" "$jit --repo $repo issue show $id --json"
  hf "$n-show-prefix" -N --warmup 3 --min-runs "$runs" \
    "$jit --repo $repo issue show $prefix --json"
  hf "$n-list" -N --warmup 3 --min-runs "$runs" "$jit --repo $repo issue list --json"
  hf "$n-cat" --warmup 3 --min-runs "$runs" \
    "find $repo/.jit/issues -name '*.json' -print0 | xargs -0 cat >/dev/null"

  log "$n issues: queries and graph reads"
  read -r hub dep_a dep_b done_id gate_id edges < <("$jit" --repo "$repo" issue list --json |
    pick_issues)
  {
    echo "edges $edges"
    echo "query-small $("$jit" --repo "$repo" query "$Q_SMALL" --json | count_json)"
    echo "query-text $("$jit" --repo "$repo" query "$Q_TEXT" --json | count_json)"
    echo "hundred $("$jit" --repo "$repo" query "$Q_HUNDRED" --json | count_json)"
    echo "ready $("$jit" --repo "$repo" ready --json | count_json)"
    echo "rdeps-direct $("$jit" --repo "$repo" issue list --json | python3 -c '
import json, sys
print(sum(sys.argv[1] in i["dependencies"] for i in json.load(sys.stdin)))' "$hub")"
    echo "rdeps-lines $("$jit" --repo "$repo" graph rdeps "$hub" | wc -l)"
  } >"$results/$n-counts.txt"
  grep -q '^hundred 100$' "$results/$n-counts.txt" ||
    { echo "bench.sh: $Q_HUNDRED does not match exactly 100 issues" >&2; exit 1; }
  hf "$n-query-small" -N --warmup 3 --min-runs "$runs" \
    "$jit --repo $repo query '$Q_SMALL' --json"
  hf "$n-query-text" -N --warmup 3 --min-runs "$runs" \
    "$jit --repo $repo query '$Q_TEXT' --json"
  hf "$n-ready" -N --warmup 3 --min-runs "$slow_runs" "$jit --repo $repo ready --json"
  hf "$n-export" -N --warmup 2 --min-runs "$slow_runs" \
    "$jit --repo $repo graph export --format dot"
  hf "$n-rdeps" -N --warmup 2 --min-runs "$slow_runs" "$jit --repo $repo graph rdeps $hub"
  # validate reads and checks every issue file; a generated repository has no error or warning.
  "$jit" --repo "$repo" validate >/dev/null ||
    { echo "bench.sh: jit validate found problems in $repo" >&2; exit 1; }
  hf "$n-validate" -N --warmup 2 --min-runs "$slow_runs" "$jit --repo $repo validate --json"

  log "$n issues: writes (in a copy)"
  write="$repo-write"
  cp -a "$repo" "$write"
  sync # or the copy's writeback competes with, and inflates, the figures below
  refresh_index "$write"
  # Each timed run changes exactly 100 issues: the prepare step takes the label off again.
  JIT_DURABILITY=full hf "$n-bulk" -N --warmup 2 --min-runs "$slow_runs" \
    --prepare "$jit --repo $write --quiet issue bulk-update --filter $Q_HUNDRED \
--remove-label bench:r --yes" \
    "$jit --repo $write issue bulk-update --filter $Q_HUNDRED --add-label bench:r --yes --json"
  # Each timed run adds the edge A -> B (with the cycle check); the prepare step removes it.
  JIT_DURABILITY=full hf "$n-dep-add" -N --warmup 3 --min-runs "$runs" \
    --prepare "$jit --repo $write --quiet dep rm $dep_a $dep_b" \
    "$jit --repo $write dep add $dep_a $dep_b"
  # Each timed run moves an issue from in_progress to done.
  JIT_DURABILITY=full hf "$n-done" -N --warmup 3 --min-runs "$runs" \
    --prepare "$jit --repo $write --quiet issue update $done_id --state in_progress" \
    "$jit --repo $write issue update $done_id --state done --json"
  # The gate framework: an auto gate whose command is `true`, run through jit, against
  # `true` alone.
  "$jit" --repo "$write" --quiet gate define noop --stage postcheck --mode auto -- true \
    >/dev/null
  "$jit" --repo "$write" --quiet gate add "$gate_id" noop >/dev/null
  JIT_DURABILITY=full hf "$n-gate-run" -N --warmup 3 --min-runs "$runs" \
    "$jit --repo $write gate run $gate_id --json"
  hf "$n-true" -N --warmup 3 --min-runs "$runs" "true"
  # A batch of 100 creates, one commit, in its own copy (each run adds 100 issues, so the
  # copy grows from n to n + 100 x (runs + warmup)); deleted afterwards.
  batch_repo="$repo-batch"
  cp -a "$repo" "$batch_repo"
  sync
  refresh_index "$batch_repo"
  python3 -c 'import json; print(json.dumps([{"op": "create", "title": f"Batch issue {i}",
    "labels": ["type:bench"]} for i in range(100)]))' >"$bench_dir/batch-100.json"
  JIT_DURABILITY=full hf "$n-batch-100" -N --warmup 3 --min-runs "$slow_runs" \
    "$jit --repo $batch_repo batch $bench_dir/batch-100.json --json"
  rm -rf "$batch_repo"
  for d in full relaxed; do
    JIT_DURABILITY=$d hf "$n-create-$d" -N --warmup 3 --runs "$create_runs" \
      "$jit --repo $write issue create 'Benchmark issue' -l type:bench --json"
  done
  for d in full relaxed; do
    JIT_DURABILITY=$d hf "$n-conc-$d" --warmup 1 --runs "$conc_rounds" \
      "bash scripts/bench.sh --concurrent-round $jit $write"
  done
  expect=$((n + 2 * (3 + create_runs) + 2 * (1 + conc_rounds) * PROCS * PER_PROC))
  count=$(find "$write/.jit/issues" -name '*.json' | wc -l)
  [ "$count" -eq "$expect" ] || {
    echo "bench.sh: $write has $count issues after the writes, expected $expect" >&2
    exit 1
  }
done
# Deleted only now: ext4 avoids reusing just-freed inodes by scanning past them, which would
# slow the creates of the next scale if a copy were deleted before them.
rm -rf "$bench_dir"/repo-*-write

# --- report ------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem=$(free -h | awk '/^Mem:/ {print $2}')
fs=$(df -T "$bench_dir" | awk 'NR == 2 {print $2}')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

Q_SMALL=$Q_SMALL Q_TEXT=$Q_TEXT \
  python3 - "$results" "$PROCS" "$PER_PROC" "${scales[@]}" >"$out.tmp" <<EOF
import json, os, sys

results, procs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scales = sys.argv[4:]
print("## jit benchmark results\n")
print("- jit: commit $commit, release build")
print("- machine: $(nproc) cores, ${cpu}, ${mem} memory, ${fs} filesystem")
print("- date: $(date -u +%Y-%m-%dT%H:%MZ); hot cache; hyperfine mean ± σ")
print("- load average (1, 5, 15 min) at start: ${load_start}; at end: ${load_end}")
print()

def load(name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))["results"][0]
    return r["mean"], r["stddev"] or 0.0, len(r["times"])

def ms(name):
    r = load(name)
    return "–" if r is None else f"{r[0] * 1e3:.2f} ± {r[1] * 1e3:.2f} ms"

def rate(name):
    r = load(name)
    if r is None:
        return "–"
    mean, sd, _ = r
    n = procs * per
    return f"{n / mean:.0f} ± {n * sd / mean ** 2:.0f} /s"

def ratio(a, b):
    ra, rb = load(a), load(b)
    return "–" if ra is None or rb is None else f"{ra[0] / rb[0]:.2f}"

label = lambda n: f"{int(n) // 1000}k" if int(n) % 1000 == 0 else n
rows = [
    ("\`jit --version\` (process start, floor)", "version", ms),
    ("\`issue show <full id> --json\`", "show-id", ms),
    ("\`issue show <8-char prefix> --json\`", "show-prefix", ms),
    ("\`issue list --json\`", "list", ms),
    ("\`cat\` every issue file (reference)", "cat", ms),
    ("\`issue create\`, JIT_DURABILITY=full", "create-full", ms),
    ("\`issue create\`, JIT_DURABILITY=relaxed", "create-relaxed", ms),
    (f"{procs} × {per} concurrent creates, full", "conc-full", rate),
    (f"{procs} × {per} concurrent creates, relaxed", "conc-relaxed", rate),
]
print("| command | " + " | ".join(label(n) for n in scales) + " |")
print("|---|" + "---:|" * len(scales))
for title, key, fmt in rows:
    print(f"| {title} | " + " | ".join(fmt(f"{n}-{key}") for n in scales) + " |")
print("| list ÷ cat | " + " | ".join(ratio(f"{n}-list", f"{n}-cat") for n in scales) + " |")

def counts(n):
    path = os.path.join(results, f"{n}-counts.txt")
    if not os.path.exists(path):
        return {}
    return dict(line.split() for line in open(path) if line.strip())

def with_count(key, what):
    return lambda n: f"{ms(f'{n}-{key}')} ({counts(n).get(what, '?')})"

def overhead(n):
    a, b = load(f"{n}-gate-run"), load(f"{n}-true")
    if a is None or b is None:
        return "–"
    return f"{(a[0] - b[0]) * 1e3:.2f} ± {(a[1] ** 2 + b[1] ** 2) ** 0.5 * 1e3:.2f} ms"

print()
print("Queries, bulk updates, the dependency graph and gates; (N) = issues in the result:\n")
print("| command | " + " | ".join(label(n) for n in scales) + " |")
print("|---|" + "---:|" * len(scales))
print("| dependency edges | " + " | ".join(counts(n).get("edges", "?") for n in scales) + " |")
rows = [
    (f"\`query '{os.environ['Q_SMALL']}' --json\`", with_count("query-small", "query-small")),
    (f"\`query '{os.environ['Q_TEXT']}' --json\`", with_count("query-text", "query-text")),
    ("\`issue bulk-update --filter $Q_HUNDRED --add-label … --yes --json\` (100 issues), full",
     lambda n: ms(f"{n}-bulk")),
    ("\`batch\` of 100 creates (one commit), full", lambda n: ms(f"{n}-batch-100")),
    ("\`ready --json\`", with_count("ready", "ready")),
    ("\`graph export --format dot\`", lambda n: ms(f"{n}-export")),
    ("\`graph rdeps <hub>\` (direct dependents)", with_count("rdeps", "rdeps-direct")),
    ("\`validate --json\` (reads every issue file)", lambda n: ms(f"{n}-validate")),
    ("\`dep add A B\`, full", lambda n: ms(f"{n}-dep-add")),
    ("\`issue update ID --state done\` (from in_progress), full", lambda n: ms(f"{n}-done")),
    ("\`gate run ID\` (one auto gate: \`true\`), full", lambda n: ms(f"{n}-gate-run")),
    ("\`true\` alone", lambda n: ms(f"{n}-true")),
    ("gate framework overhead (gate run − true)", overhead),
]
for title, fmt in rows:
    print(f"| {title} | " + " | ".join(fmt(n) for n in scales) + " |")
EOF
mv "$out.tmp" "$out"
cat "$out"
log "raw hyperfine results: $results; table: $out"
