#!/usr/bin/env bash
# A short tour of jit: builds the release binary with cargo, makes a throw-away repository in
# a temporary directory, runs a few commands in it (init, create with labels and
# dependencies, list, query, ready, graph export), and says where it is so you can go on.
#
# Usage: scripts/demo.sh            (from anywhere; needs cargo)
#        JIT_DEMO_BIN=PATH scripts/demo.sh   (runs that jit binary instead of building one)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac

if [ -n "${JIT_DEMO_BIN:-}" ]; then
  jit=$JIT_DEMO_BIN
else
  # With cargo's progress shown: the first build takes a few minutes.
  echo "==> building jit (cargo build --release)"
  cargo build --release --manifest-path "$root/Cargo.toml"
  jit=$target_dir/release/jit
fi

demo=$(mktemp -d -t jit-demo.XXXXXX)
cd "$demo"
# Settings a caller may have exported must not point the demo at another repository.
unset JIT_DIR JIT_NOW JIT_SEED JIT_DURABILITY JIT_TEST_FAULT

# The command line as one would type it: words with spaces or shell characters in quotes.
show() {
  local out="\$ jit" w
  for w in "$@"; do
    case $w in
      *[!A-Za-z0-9_.,:/=@+-]*) out+=" '$w'" ;;
      *) out+=" $w" ;;
    esac
  done
  printf '\n%s\n' "$out"
}

# Show a command, then run it.
run() {
  show "$@"
  "$jit" "$@"
}

# Show a command and run it without printing the issue card it outputs.
quietly() {
  show "$@"
  "$jit" "$@" >/dev/null
}

# Show `jit issue create ARGS` on stderr, run it, and print only the new id (the first field
# of the JSON object) on stdout.
new_issue() {
  show issue create "$@" >&2
  local id
  id=$("$jit" issue create "$@" --json | sed -n 's/^{"id":"\([0-9a-z]*\)".*/\1/p')
  echo "created $id" >&2
  echo "$id"
}

run init

printf '\n# three issues: the release depends on the form, which depends on the design\n'
design=$(new_issue "Design the login form" -p high -l type:design -l area:auth)
form=$(new_issue "Implement the login form" -l type:feature -l area:auth --depends-on "$design")
release=$(new_issue "Release 1.0" -p critical -l epic:release --depends-on "$form")
new_issue "Fix the flaky upload test" -l type:bug -l area:upload --state ready >/dev/null

run issue list
run query 'label:area:* AND NOT is:closed'
quietly issue update "$design" --state ready
run ready
run blocked

printf '\n# finishing the design unblocks the form; jit changes no other state on its own\n'
quietly issue update "$design" --state in_progress --assignee agent:designer
quietly issue update "$design" --state done
quietly issue update "$form" --state ready
run ready
run graph order
run graph deps "$release"
run graph export --format mermaid

cat <<EOF

The demo repository is in $demo
  cd $demo && $jit issue list
  $jit issue show $release
Remove it with: rm -rf $demo
EOF
