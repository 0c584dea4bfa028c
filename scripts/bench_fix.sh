#!/usr/bin/env bash
# Benchmark of `jit validate --fix` on a damaged repository (docs/performance.md,
# "`validate --fix`"): makes a repository of N synthetic issues (scripts/gen_repo.py, 1.5
# dependencies per issue), damages it with 100 findings of the kinds a crash, a merge or a hand
# edit leaves — 20 temp files of killed writers, 20 dangling dependencies, 35 truncated issue
# files, 10 foreign files, 10 gates missing from the registry, 5 two-issue dependency cycles —
# then times with hyperfine `validate --fix --json` on a fresh copy of it per run, and the
# second `--fix` that finds nothing to repair.
#
# Usage: scripts/bench_fix.sh [N]        (default 10000)
# Environment: BENCH_DIR scratch directory (default target/bench-fix), BENCH_RUNS (default 10).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-10000}
dir=${BENCH_DIR:-target/bench-fix}
runs=${BENCH_RUNS:-10}
command -v hyperfine >/dev/null || { echo "error: hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release -q
jit=$root/target/release/jit
rm -rf "$dir" && mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The scratch repositories are not in the project's git work tree: `init` must not register
# the merge driver in the project's git config.
export GIT_CEILING_DIRECTORIES=$dir
base=$dir/base
mkdir "$base"
"$jit" --repo "$base" -q init
python3 scripts/gen_repo.py "$base" "$n" --deps 1.5 --marked 100 >/dev/null
"$jit" --repo "$base" -q gate define bench-review --stage postcheck --mode manual
# Damage, deterministically (sorted ids, fixed picks).
python3 - "$base" <<'PY'
import json, os, sys
base = sys.argv[1]
issues = os.path.join(base, ".jit", "issues")
ids = sorted(f[:-5] for f in os.listdir(issues) if f.endswith(".json"))
def load(i):
    with open(os.path.join(issues, i + ".json")) as f:
        return json.load(f)
def save(i, issue):
    with open(os.path.join(issues, i + ".json"), "w") as f:
        f.write(json.dumps(issue, indent=2, ensure_ascii=False) + "\n")
step = len(ids) // 120
pick = iter(ids[k * step] for k in range(120))
for k in range(20):  # temp files of killed writers
    i = next(pick)
    with open(os.path.join(issues, f".tmp.999{k}.0.{i}.json"), "w") as f:
        f.write('{"id": "' + i + '", "tit')
for k in range(20):  # dangling dependencies
    i = next(pick)
    issue = load(i)
    issue["dependencies"].append("0000000000000000000000%04d" % k)
    save(i, issue)
for _ in range(35):  # truncated issue files
    path = os.path.join(issues, next(pick) + ".json")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
for k in range(10):  # foreign files
    with open(os.path.join(issues, f"notes-{k}.txt"), "w") as f:
        f.write("not an issue\n")
for k in range(10):  # gates not in the registry
    i = next(pick)
    issue = load(i)
    issue["gates"][f"gone-{k}"] = {"status": "pending"}
    save(i, issue)
for _ in range(5):  # two-issue cycles
    a, b = next(pick), next(pick)
    ia, ib = load(a), load(b)
    ia["dependencies"].append(b)
    ib["dependencies"].append(a)
    save(a, ia)
    save(b, ib)
PY
"$jit" --repo "$base" issue list --json >/dev/null 2>&1 || true
cp -a "$base" "$dir/check" && "$jit" --repo "$dir/check" validate --json >"$dir/findings.json" || true
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["findings"]; import collections; print(len(f), "findings:", dict(collections.Counter(x["code"] for x in f)))' "$dir/findings.json"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine -N --runs "$runs" --prepare "sh -c 'rm -rf $dir/work && cp -a $base $dir/work'" \
  "$jit --repo $dir/work validate --fix --json"
"$jit" --repo "$dir/work" validate --fix --json >/dev/null || true
hyperfine -N --warmup 1 --runs "$runs" "$jit --repo $dir/work validate --fix --json"
"$jit" --repo "$dir/work" validate --json >/dev/null && echo "validate after --fix: clean"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
