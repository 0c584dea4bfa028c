#!/usr/bin/env python3
"""Fill a jit repository with N synthetic issues, fast, for benchmarks.

Writes `.jit/issues/<id>.json` files directly, byte for byte as jit writes them: the keys in
the order of `model::Issue`, pretty-printed with a 2-space indent and a final newline,
timestamps in RFC 3339 UTC with microseconds and trailing zeros dropped (as jiff prints them),
ids as lowercase Crockford-base32 ULIDs whose time part is the creation millisecond.

Usage: gen_repo.py PROJECT COUNT [--seed N] [--deps MEAN] [--marked N]

Without --deps, about 10 % of the issues depend on one or two of the 50 issues made just
before them (~0.13 edges per issue). With --deps MEAN, the dependencies are drawn instead
(from a second random stream, so every other field stays as without the option): MEAN edges
per issue on average (0 to 6 per issue, most with none or one), each to an OLDER issue, so
the graph is acyclic; about 80 % of the edges go to one of the ~30 issues made just before
(chains of related work), the rest to any older issue (old issues collect many dependents).
With --marked N, N issues spread evenly over the repository also get the label
`bench:hundred` (for a bulk-update that changes exactly N issues).

PROJECT must already hold a `.jit/` made by `jit init`; its issues directory must be empty.
The same seed gives the same repository. Nothing here replaces jit's own write path: the
files are plain writes without fsync, which is what a benchmark fixture needs.
"""

import argparse
import json
import os
import random
import sys

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
STATES = ["backlog", "ready", "in_progress", "gated", "done", "rejected"]
STATE_WEIGHTS = [30, 20, 10, 5, 30, 5]
PRIORITIES = ["low", "normal", "high", "critical"]
PRIORITY_WEIGHTS = [20, 55, 20, 5]
# 2025-01-01T00:00:00Z in microseconds; issues are spread over the following ~18 months.
START_US = 1_735_689_600_000_000

VERBS = ["Fix", "Add", "Remove", "Refactor", "Document", "Speed up", "Investigate", "Test",
         "Rename", "Split", "Cache", "Validate", "Migrate", "Retry", "Log"]
OBJECTS = ["the login page", "session expiry", "the CSV export", "the search index",
           "dark mode colours", "the retry policy", "flaky upload test", "the config loader",
           "rate limiting", "the billing webhook", "error messages", "the release script",
           "keyboard shortcuts", "the audit log", "password reset emails", "the sync worker",
           "pagination on /issues", "the merge driver", "timezone handling", "the CLI help"]
TAILS = ["", "", "", " on Safari", " for large repositories", " after the last refactor",
         " in the nightly build", " when offline", " for agents", " behind the feature flag"]
SENTENCES = [
    "Users report that it fails intermittently, roughly once in twenty attempts.",
    "Steps to reproduce: open the page, wait for the spinner, then press Enter twice.",
    "The stack trace points at the connection pool being exhausted under load.",
    "We should add a regression test before touching the implementation.",
    "This blocks the next release; see the discussion in the planning notes.",
    "Expected: the request succeeds. Actual: a 500 with an empty body.",
    "A quick profile shows most of the time spent parsing JSON on every request.",
    "Agents picking this up should run the full test suite, not only the unit tests.",
    "The old behaviour was documented, so changing it needs a note in the changelog.",
    "Possibly related to the clock skew we saw on the CI machines last week.",
    "Acceptance: the command finishes in under a second on a 100k-issue repository.",
    "Nobody owns this area right now; ask in the channel before a large change.",
]
NAMESPACES = {
    "type": ["bug", "feature", "chore", "docs", "perf"],
    "area": ["ui", "api", "cli", "storage", "auth", "ci"],
    "epic": [f"e{i}" for i in range(1, 40)],
    "component": ["parser", "index", "lock", "journal", "web/login"],
}
AGENTS = ["agent:claude-1", "agent:claude-2", "agent:reviewer", "alice", "bob", "agent:ci"]


def ulid(ms, rand80):
    """Lowercase Crockford base32 of the 128-bit ULID (48-bit ms, 80 random bits)."""
    v = (ms << 80) | rand80
    return "".join(CROCKFORD[(v >> (5 * (25 - i))) & 31] for i in range(26))


def timestamp(us):
    """RFC 3339 in UTC the way jit writes it: always six fraction digits."""
    secs, frac = divmod(us, 1_000_000)
    days, rem = divmod(secs, 86_400)
    y, m, d = civil_from_days(days)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    out = f"{y:04d}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
    return out + f".{frac:06d}Z"


def civil_from_days(z):
    """Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant)."""
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)


def text(rng, lo, hi):
    """Sentences until the length is in [lo, hi]."""
    out = ""
    while len(out) < lo:
        s = rng.choice(SENTENCES)
        if len(out) + len(s) + 1 > hi:
            break
        out = f"{out} {s}" if out else s
    return out if len(out) >= lo else (out + " " + "x" * (lo - len(out) - 1)).strip()


def labels(rng):
    chosen = set()
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        ns = rng.choice(list(NAMESPACES))
        chosen.add(f"{ns}:{rng.choice(NAMESPACES[ns])}")
    return sorted(chosen)


def issue(rng, created_us, earlier):
    ms = created_us // 1000
    iid = ulid(ms, rng.getrandbits(80))
    state = rng.choices(STATES, STATE_WEIGHTS)[0]
    edits = rng.choice([0, 0, 1, 1, 2, 3, 5, 8])
    updated_us = created_us + (rng.randint(1, 30 * 86_400) * 1_000_000
                               + rng.randint(0, 999_999) if edits else 0)
    deps = sorted(rng.sample(earlier, min(len(earlier), rng.choice([1, 1, 2]))))
    if rng.random() >= 0.1:
        deps = []
    title = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    return iid, {
        "id": iid,
        "title": title,
        "description": text(rng, rng.randint(50, 360), 400),
        "state": state,
        "priority": rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0],
        "assignee": rng.choice(AGENTS) if state in ("in_progress", "gated") else None,
        "labels": labels(rng),
        "dependencies": deps,
        "gates": {},
        "context": {},
        "artifacts": [],
        "version": 1 + edits,
        "created_at": timestamp(created_us),
        "updated_at": timestamp(updated_us),
        "closed_at": timestamp(updated_us) if state in ("done", "rejected") else None,
    }


# Number of dependencies of one issue with --deps: weights for 0, 1, 2, 3, 4, 6 edges; the
# mean of this distribution is DEPS_BASE_MEAN, scaled to the requested mean.
DEPS_COUNTS = [0, 1, 2, 3, 4, 6]
DEPS_WEIGHTS = [35, 27, 15, 10, 8, 5]
DEPS_BASE_MEAN = sum(c * w for c, w in zip(DEPS_COUNTS, DEPS_WEIGHTS)) / sum(DEPS_WEIGHTS)


def graph_deps(rng, ids, mean):
    """Dependencies for the next issue, given the ids of all the older ones (oldest first)."""
    n = len(ids)
    if n == 0:
        return []
    k = rng.choices(DEPS_COUNTS, DEPS_WEIGHTS)[0]
    # Scale the count to the requested mean without changing the shape much.
    scaled = k * mean / DEPS_BASE_MEAN
    k = int(scaled) + (rng.random() < scaled - int(scaled))
    chosen = set()
    for _ in range(min(k, n)):
        for _attempt in range(20):
            if rng.random() < 0.8:
                back = 1 + min(int(rng.expovariate(1 / 8)), 29)
                j = n - min(back, n)
            else:
                j = rng.randrange(n)
            if j not in chosen:
                chosen.add(j)
                break
    return sorted(ids[j] for j in chosen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", help="a directory holding .jit/ (from `jit init`)")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deps", type=float, metavar="MEAN",
                    help="draw MEAN dependencies per issue on average, each to an older issue")
    ap.add_argument("--marked", type=int, default=0, metavar="N",
                    help="label N issues, spread evenly, `bench:hundred`")
    args = ap.parse_args()

    issues_dir = os.path.join(args.project, ".jit", "issues")
    if not os.path.isdir(issues_dir):
        sys.exit(f"gen_repo.py: {issues_dir} does not exist; run `jit init` first")
    if os.listdir(issues_dir):
        sys.exit(f"gen_repo.py: {issues_dir} is not empty")

    rng = random.Random(args.seed)
    # Mean gap ~4 minutes with bursts: realistic, and keeps ids strictly time-ordered.
    created = START_US
    recent = []
    # Separate streams, so that the options change only the fields they are about.
    dep_rng = random.Random(args.seed * 1_000_003 + 1)
    all_ids = []
    marked = set()
    if args.marked:
        if args.marked > args.count:
            sys.exit("gen_repo.py: --marked is larger than COUNT")
        marked = {i * args.count // args.marked for i in range(args.marked)}
    for i in range(args.count):
        created += rng.choice([rng.randint(1_000, 5_000_000), rng.randint(1, 480) * 1_000_000])
        iid, doc = issue(rng, created, recent)
        recent = (recent + [iid])[-50:]
        if args.deps is not None:
            doc["dependencies"] = graph_deps(dep_rng, all_ids, args.deps)
            all_ids.append(iid)
        if i in marked:
            doc["labels"] = sorted(set(doc["labels"]) | {"bench:hundred"})
        body = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        with open(os.path.join(issues_dir, iid + ".json"), "w", encoding="utf-8") as f:
            f.write(body)


if __name__ == "__main__":
    main()
