#!/usr/bin/env bash
# Crash harness: mixed jit writers (create, update, bulk-update, batch, claim, delete) run at
# once and are SIGKILLed at random moments, until KILLS processes have been killed; then the
# repository is checked:
#
#   - every issue file parses (zero unparseable files);
#   - every acknowledged write is there: each created issue (unless its delete was
#     acknowledged), each label an acknowledged update added, each acknowledged claim's
#     assignee, and no issue whose delete was acknowledged;
#   - multi-file changes are all-or-nothing: each bulk-update's label is on every issue of
#     the group or on none (on every one if acknowledged); each batch's two issues exist
#     both or neither (both if acknowledged), the second depending on the first;
#   - after the next write (which recovers the journal), `jit validate` finds nothing but
#     what `validate --fix` settles (temp files of killed writers) and info, and after those
#     are settled it exits 0.
#
# Usage: scripts/crash-harness.sh [KILLS] [WORKERS]        (defaults: 300 kills, 4 workers)
#
# Environment:
#   JIT        the binary (default: target/release/jit, built if missing)
#   CRASH_DIR  scratch directory (default: a new temp dir, removed on success)
#   GROUP      issues every bulk-update rewrites (default: 20)
#   POOL       ready issues to claim (default: 40)
#   MAX_MS     kill delays are drawn from 1..MAX_MS ms (default: twice the mean time of the
#              setup's creates times WORKERS, as the workers contend for the lock and the
#              CPU, so that kills land all through a command on any machine)
#
# Prints the figures (kills, runs and acknowledged writes of each kind) and exits 0 when
# every check holds, 1 with the failures otherwise. Needs jq and coreutils `timeout`.
set -euo pipefail

KILLS=${1:-300}
WORKERS=${2:-4}
cd "$(dirname "$0")/.."
if [ -z "${JIT:-}" ]; then
  JIT=$PWD/target/release/jit
  [ -x "$JIT" ] || cargo build --release --quiet
fi
command -v jq >/dev/null || { echo "error: jq is needed" >&2; exit 1; }
DIR=${CRASH_DIR:-$(mktemp -d)}
mkdir -p "$DIR"
REPO=$DIR/repo
LOGS=$DIR/logs
rm -rf "$REPO" "$LOGS"
mkdir -p "$REPO" "$LOGS"
cd "$REPO"
unset JIT_DIR JIT_NOW JIT_SEED JIT_DURABILITY JIT_TEST_FAULT JIT_CLAIM_TOKEN JIT_LOCK_TIMEOUT_MS
export JIT_LOCK_TIMEOUT_MS=60000
"$JIT" init >/dev/null

# The group every bulk-update changes: 20 issues, never deleted.
GROUP=${GROUP:-20}
t0=$(date +%s%N)
for i in $(seq 1 "$GROUP"); do
  "$JIT" issue create "group $i" --label grp:all >/dev/null
done
MAX_MS=${MAX_MS:-$(( ($(date +%s%N) - t0) / GROUP / 500000 * WORKERS + 2 ))}
# Issues to claim.
for i in $(seq 1 "${POOL:-40}"); do
  "$JIT" issue create "claimable $i" --state ready --label pool:claim >/dev/null
done

START=$(date +%s.%N)

# One worker: runs random operations, each with a random kill delay, until the shared kill
# count reaches KILLS. Logs each acknowledged write as `kind args` in its own log.
worker() {
  local w=$1 n=0 log=$LOGS/w$1.acked kills=$LOGS/w$1.kills runs=$LOGS/w$1.runs
  local -a mine=()
  : >"$log"; : >"$kills"; : >"$runs"
  while [ "$(cat "$LOGS"/w*.kills | wc -l)" -lt "$KILLS" ]; do
    n=$((n + 1))
    local tag="w${w}n${n}" out rc op=$((RANDOM % 8)) ms=$((RANDOM % MAX_MS + 1))
    local t="timeout -s KILL $((ms / 1000)).$(printf %03d $((ms % 1000)))"
    case $op in
      0 | 1) # create, half of them depending on an earlier one of this worker
        local dep=()
        if [ ${#mine[@]} -gt 0 ] && [ $((RANDOM % 2)) = 0 ]; then
          dep=(--depends-on "${mine[RANDOM % ${#mine[@]}]}")
        fi
        set +e; out=$($t "$JIT" issue create "$tag" "${dep[@]}" --json 2>/dev/null); rc=$?; set -e
        if [ $rc = 0 ]; then
          local id; id=$(jq -r .id <<<"$out"); mine+=("$id")
          echo "create $id" >>"$log"
        fi ;;
      2) # update: add a label to a group issue or one of ours
        local target
        target=$("$JIT" query label:grp:all --json 2>/dev/null | jq -r ".[$((RANDOM % GROUP))].id")
        set +e; $t "$JIT" issue update "$target" --add-label "u:$tag" >/dev/null 2>&1; rc=$?; set -e
        [ $rc = 0 ] && echo "update $target u:$tag" >>"$log" ;;
      3) # bulk-update of the whole group (one journal commit of 20 files)
        set +e; $t "$JIT" issue bulk-update --filter label:grp:all --add-label "b:$tag" --yes \
          >/dev/null 2>&1; rc=$?; set -e
        [ $rc = 0 ] && echo "bulk b:$tag" >>"$log" ;;
      4) # batch: two issues, the second depending on the first, one journal commit
        local f=$LOGS/$tag.batch
        printf '[{"op":"create","key":"a","title":"%s a","labels":["bt:%s"]},{"op":"create","key":"b","title":"%s b","labels":["bt:%s"],"depends_on":["@a"]}]' \
          "$tag" "$tag" "$tag" "$tag" >"$f"
        set +e; $t "$JIT" batch "$f" >/dev/null 2>&1; rc=$?; set -e
        [ $rc = 0 ] && echo "batch bt:$tag" >>"$log" ;;
      5) # claim
        set +e; out=$($t "$JIT" claim --agent "$tag" --filter label:pool:claim --json 2>/dev/null)
        rc=$?; set -e
        if [ $rc = 0 ]; then echo "claim $(jq -r .issue.id <<<"$out") $tag" >>"$log"; fi ;;
      6 | 7) # delete one of ours (others may depend on it: then a journal commit)
        [ ${#mine[@]} -gt 0 ] || continue
        local i=$((RANDOM % ${#mine[@]}))
        local id=${mine[$i]}
        set +e; $t "$JIT" issue delete "$id" --yes >/dev/null 2>&1; rc=$?; set -e
        # Killed, it may or may not have deleted it: either is right.
        [ $rc = 137 ] && echo "trydelete $id" >>"$log"
        if [ $rc = 0 ] || [ $rc = 3 ]; then
          [ $rc = 0 ] && echo "delete $id" >>"$log"
          mine=("${mine[@]:0:i}" "${mine[@]:i+1}")
        fi ;;
    esac
    echo "$op $rc" >>"$runs"
    # 137: killed by timeout's SIGKILL. 3 (not found), 4, 5 are refusals a concurrent
    # change can cause (a delete of an issue a batch made meanwhile, no issue to claim).
    case $rc in
      0 | 3 | 4 | 5) ;;
      137) echo "$op" >>"$kills" ;;
      *) echo "worker $w: op $op exited $rc" >>"$LOGS/errors" ;;
    esac
  done
}

# (stderr aside: bash says "Killed" for each killed command)
pids=()
for w in $(seq 1 "$WORKERS"); do
  worker "$w" 2>"$LOGS/w$w.stderr" &
  pids+=($!)
done
broken=0
for p in "${pids[@]}"; do wait "$p" || broken=$((broken + 1)); done
END=$(date +%s.%N)

fail=()
check() { fail+=("$1"); }

[ "$broken" = 0 ] || check "$broken workers stopped: $(grep -hv Killed "$LOGS"/w*.stderr | head -3)"
[ -s "$LOGS/errors" ] && check "unexpected exits: $(sort "$LOGS/errors" | uniq -c | tr '\n' ';')"
ACKED=$(cat "$LOGS"/w*.acked)

# Zero unparseable files (temp files of killed writers aside).
bad=0
for f in .jit/issues/*.json; do
  jq -e . "$f" >/dev/null 2>&1 || { bad=$((bad + 1)); check "unparseable: $f"; }
done

# The next write recovers any interrupted change; then read the store through jit.
"$JIT" issue create "after the harness" >/dev/null
ALL=$("$JIT" issue list --json)
has() { jq -e --arg id "$1" 'any(.[]; .id == $id)' <<<"$ALL" >/dev/null; }
deleted=$(awk '$1 == "delete" || $1 == "trydelete" {print $2}' <<<"$ACKED")

while read -r kind a b; do
  case $kind in
    create)
      grep -qx "$a" <<<"$deleted" || has "$a" || check "acknowledged create $a lost" ;;
    delete) has "$a" && check "acknowledged delete $a undone" ;;
    update)
      jq -e --arg id "$a" --arg l "$b" 'any(.[]; .id == $id and (.labels | index($l)))' \
        <<<"$ALL" >/dev/null || check "acknowledged label $b on $a lost" ;;
    claim)
      jq -e --arg id "$a" --arg who "$b" 'any(.[]; .id == $id and .assignee == $who)' \
        <<<"$ALL" >/dev/null || check "acknowledged claim of $a by $b lost" ;;
    bulk | batch | trydelete) ;;
  esac
done <<<"$ACKED"

# All-or-nothing: every bulk-update label is on the whole group or on none of it.
for l in $(jq -r '[.[].labels[] | select(startswith("b:"))] | unique | .[]' <<<"$ALL"); do
  c=$(jq --arg l "$l" '[.[] | select(.labels | index($l))] | length' <<<"$ALL")
  [ "$c" = "$GROUP" ] || check "bulk-update $l on $c of $GROUP issues"
done
for l in $(awk '$1 == "bulk" {print $2}' <<<"$ACKED"); do
  jq -e --arg l "$l" 'any(.[]; .labels | index($l))' <<<"$ALL" >/dev/null ||
    check "acknowledged bulk-update $l lost"
done
# Every batch: both issues or neither, the second depending on the first.
for l in $(jq -r '[.[].labels[] | select(startswith("bt:"))] | unique | .[]' <<<"$ALL"); do
  ok=$(jq --arg l "$l" '[.[] | select(.labels | index($l))] as $p
    | ($p | length) == 2 and ([$p[] | select(.dependencies | length == 1)] | length) == 1' <<<"$ALL")
  [ "$ok" = true ] || check "batch $l torn"
done
for l in $(awk '$1 == "batch" {print $2}' <<<"$ACKED"); do
  jq -e --arg l "$l" 'any(.[]; .labels | index($l))' <<<"$ALL" >/dev/null ||
    check "acknowledged batch $l lost"
done

# validate: nothing but temp files (which `validate --fix` removes) and info.
set +e; V=$("$JIT" validate --json); set -e
left=$(jq -r '[.findings[] | select(.severity != "info" and .code != "TEMP_FILE") | .code]
  | unique | join(",")' <<<"$V")
[ -z "$left" ] || check "validate found: $left"
temps=$(jq '[.findings[] | select(.code == "TEMP_FILE")] | length' <<<"$V")
"$JIT" validate --fix >/dev/null || check "validate --fix did not settle what validate found"
"$JIT" validate >/dev/null || check "validate not clean after the temp files went"

kills=$(cat "$LOGS"/w*.kills | wc -l)
runs=$(cat "$LOGS"/w*.runs | wc -l)
count() { awk -v k="$1" '$1 == k' <<<"$ACKED" | wc -l; }
killed_of() { awk -v o="$1" '$1 ~ o' "$LOGS"/w*.kills | wc -l; }
printf 'crash harness: %d workers, kill delays 1-%d ms, %.1f s, load %s\n' "$WORKERS" "$MAX_MS" \
  "$(awk -v a="$START" -v b="$END" 'BEGIN {print b - a}')" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  runs %d, killed %d; issues at the end %d; temp files left by killed writers %d\n' \
  "$runs" "$kills" "$(jq length <<<"$ALL")" "$temps"
printf '  killed: create %d, update %d, bulk-update %d, batch %d, claim %d, delete %d\n' \
  "$(killed_of '^[01]$')" "$(killed_of '^2$')" "$(killed_of '^3$')" "$(killed_of '^4$')" \
  "$(killed_of '^5$')" "$(killed_of '^[67]$')"
printf '  acknowledged: create %d, update %d, bulk-update %d, batch %d, claim %d, delete %d\n' \
  "$(count create)" "$(count update)" "$(count bulk)" "$(count batch)" "$(count claim)" \
  "$(count delete)"
printf '  unparseable files %d\n' "$bad"
if [ ${#fail[@]} -gt 0 ]; then
  printf 'FAILED (%d):\n' "${#fail[@]}"
  printf '  %s\n' "${fail[@]}" | head -50
  echo "repository kept in $REPO"
  exit 1
fi
echo "all checks hold"
[ -n "${CRASH_DIR:-}" ] || rm -rf "$DIR"
