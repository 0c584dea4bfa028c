//! Criterion benchmarks of the store, through the library (no process start, no CLI): create
//! one issue (full and relaxed durability), load one issue by id, resolve an id prefix,
//! snapshot the whole repository through the read index (the `issue list` path), and
//! serialise / parse one issue; parse a ~1 KiB filter and evaluate filters over a snapshot.
//!
//! Scales: 1k and 10k issues; 100k too with `JIT_BENCH_LARGE=1`. Under `cargo test
//! --all-targets` (criterion's test mode, no `--bench` argument) every benchmark runs once on
//! a 50-issue repository, so the test suite stays fast. See docs/performance.md.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use jit::clock::Clock;
use jit::graph::GraphView;
use jit::model::{GateDef, Issue, IssueId, NewIssue, Priority, State};
use jit::query::select::{Sort, select};
use jit::query::{EvalCtx, parse};
use jit::repo::{OpenOptions, Repo};
use jit::storage::{Durability, Layout, atomic, index};
use tempfile::TempDir;

/// Repository sizes for this run.
fn scales() -> Vec<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return vec![50];
    }
    let mut v = vec![1_000, 10_000];
    if std::env::var("JIT_BENCH_LARGE").is_ok_and(|v| v == "1") {
        v.push(100_000);
    }
    v
}

/// splitmix64: varied but reproducible fixture content.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const SENTENCE: &str = "Steps to reproduce: open the page, wait for the spinner, press Enter. ";
const LABELS: [&str; 8] = [
    "type:bug",
    "type:feature",
    "area:ui",
    "area:cli",
    "area:storage",
    "epic:e7",
    "epic:e12",
    "x:y",
];

/// An issue like the ones `scripts/gen_repo.py` makes: 50–400 byte description, 0–3 labels.
fn sample_issue(mix: &mut Mix, ms: u64) -> Issue {
    let id = IssueId::from_parts(ms, u128::from(mix.next()) << 16);
    let labels = (0..mix.next() % 4).map(|_| mix.pick(&LABELS).to_string()).collect();
    let new = NewIssue {
        title: format!("{} the {} page", mix.pick(&["Fix", "Add", "Speed up"]), ms % 97),
        description: SENTENCE.repeat(1 + (mix.next() % 5) as usize),
        state: Some(State::ALL[(mix.next() % 6) as usize]),
        priority: Some(Priority::ALL[(mix.next() % 4) as usize]),
        labels,
        ..NewIssue::default()
    };
    let now = Timestamp::from_millisecond(ms as i64).expect("valid time");
    new.build(id, now, State::Backlog).expect("valid issue")
}

/// A repository of `n` issues in a temp dir, with its read index built.
struct Fixture {
    _dir: TempDir,
    path: std::path::PathBuf,
    ids: Vec<IssueId>,
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        Repo::init(&path).expect("init");
        let layout = Layout::at(&path).expect("layout");
        let mut mix = Mix(n as u64);
        let start_ms = 1_735_689_600_000; // 2025-01-01
        let mut ids = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let issue = sample_issue(&mut mix, start_ms + i * 60_000);
            let file = layout.issue_path(issue.id);
            atomic::write(&file, &issue.to_file_bytes(), Durability::Relaxed).expect("write");
            ids.push(issue.id);
        }
        // jit backdates its writes, so every stamp is trusted at once: this builds the base.
        index::snapshot(&layout).expect("index");
        Fixture { _dir: dir, path, ids }
    }

    fn repo(&self, durability: Durability) -> Repo {
        let opts = OpenOptions {
            repo: Some(self.path.clone()),
            cwd: self.path.clone(),
            durability: Some(durability),
            command: "bench".into(),
            ..OpenOptions::default()
        };
        Repo::open(&opts, Clock::system()).expect("open")
    }

    fn middle(&self) -> IssueId {
        self.ids[self.ids.len() / 2]
    }
}

fn reads(c: &mut Criterion, fixtures: &[(usize, Fixture)]) {
    let mut g = c.benchmark_group("read");
    g.sample_size(30);
    for (n, fx) in fixtures {
        let repo = fx.repo(Durability::Relaxed);
        let id = fx.middle();
        g.bench_with_input(BenchmarkId::new("load_by_id", n), &id, |b, id| {
            b.iter(|| repo.load(black_box(*id)).expect("load"))
        });
        let prefix = id.to_string()[..8].to_string();
        g.bench_with_input(BenchmarkId::new("show_by_prefix", n), &prefix, |b, p| {
            b.iter(|| repo.show(black_box(p)).expect("show"))
        });
        let layout = Layout::at(&fx.path).expect("layout");
        g.bench_with_input(BenchmarkId::new("snapshot", n), &layout, |b, layout| {
            b.iter(|| index::snapshot(layout).expect("snapshot").len())
        });
    }
    g.finish();
}

/// Creates, timed one by one; after each batch the new files are moved out of the issues
/// directory (untimed), so the repository keeps its size however many iterations criterion
/// runs. Moved, not deleted: ext4 scans past recently freed inodes when it allocates one,
/// which would make every later create pay for the deletions.
fn creates(c: &mut Criterion, fixtures: &[(usize, Fixture)]) {
    let mut g = c.benchmark_group("create");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for (n, fx) in fixtures {
        for (name, d) in [("full", Durability::Full), ("relaxed", Durability::Relaxed)] {
            let repo = fx.repo(d);
            let issues = repo.layout().issues_dir();
            let spill = fx.path.join("spill");
            std::fs::create_dir_all(&spill).expect("spill dir");
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter_custom(|iters| timed_creates(&repo, &issues, &spill, iters))
            });
        }
    }
    g.finish();
}

fn timed_creates(repo: &Repo, issues: &Path, spill: &Path, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut made = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let new = NewIssue {
            title: "Benchmark issue".into(),
            labels: vec!["type:bench".into()],
            ..NewIssue::default()
        };
        let t = Instant::now();
        let issue = repo.create(new, &[]).expect("create");
        total += t.elapsed();
        made.push(issue.id);
    }
    for id in made {
        let name = id.file_name();
        std::fs::rename(issues.join(&name), spill.join(&name)).expect("move aside");
    }
    total
}

fn serde(c: &mut Criterion) {
    let issue = sample_issue(&mut Mix(7), 1_735_689_600_000);
    let file = issue.to_file_bytes();
    let mut g = c.benchmark_group("issue");
    g.bench_function("to_file_bytes", |b| b.iter(|| black_box(&issue).to_file_bytes()));
    g.bench_function("to_compact_json", |b| b.iter(|| black_box(&issue).to_compact_json()));
    g.bench_function("from_slice", |b| {
        b.iter(|| Issue::from_slice(black_box(&file)).expect("parse"))
    });
    g.finish();
}

/// A realistic filter of about 1 KiB: an OR of groups, each an AND of varied terms (fields,
/// wildcards, comparisons, NOT, quoted free text).
fn big_filter() -> String {
    const GROUPS: [&str; 6] = [
        "(state:ready AND label:epic:e{i} AND priority>=high AND NOT assignee:agent:*)",
        "(label:area:ui AND \"login page\" AND NOT label:type:docs AND created>2025-0{m}-01)",
        "(state:in_progress AND assignee:agent:claude-{m} AND label:component:* AND is:blocked)",
        "(title:\"retry policy\" AND (priority:critical OR priority:high) AND updated<30d)",
        "(label:type:bug AND label:area:api AND state:backlog AND NOT is:ready)",
        "(id:01j{m}* AND state:gated AND gate:tests:failed AND label:epic:e{i})",
    ];
    let mut out = String::new();
    let mut i = 0;
    while out.len() < 1_000 {
        let g = GROUPS[i % GROUPS.len()]
            .replace("{i}", &(i % 39 + 1).to_string())
            .replace("{m}", &(i % 9 + 1).to_string());
        if !out.is_empty() {
            out.push_str(" OR ");
        }
        out.push_str(&g);
        i += 1;
    }
    out
}

fn query(c: &mut Criterion, fixtures: &[(usize, Fixture)]) {
    let big = big_filter();
    let mut g = c.benchmark_group("query");
    g.bench_function(format!("parse_{}_bytes", big.len()), |b| {
        b.iter(|| parse(black_box(&big)).expect("parse"))
    });
    let small = parse("priority:critical AND label:type:bug AND state:ready").expect("parse");
    let big = parse(&big).expect("parse");
    g.sample_size(20);
    for (n, fx) in fixtures {
        let layout = Layout::at(&fx.path).expect("layout");
        let snap = index::snapshot(&layout).expect("snapshot");
        let gates = std::collections::BTreeMap::<String, GateDef>::new();
        let view = GraphView { snap: &snap, gates: &gates, runnable: Default::default() };
        let now = Timestamp::from_millisecond(1_767_225_600_000).expect("time"); // 2026-01-01
        for (name, f) in [("eval_small", &small), ("eval_1KiB", &big)] {
            g.bench_with_input(BenchmarkId::new(name, n), f, |b, f| {
                b.iter(|| {
                    let ctx = EvalCtx::new(now, Some(&view));
                    select(&snap, Some(f), &ctx, Sort::default(), None).len()
                })
            });
        }
    }
    g.finish();
}

fn store(c: &mut Criterion) {
    serde(c);
    let fixtures: Vec<(usize, Fixture)> =
        scales().into_iter().map(|n| (n, Fixture::new(n))).collect();
    reads(c, &fixtures);
    query(c, &fixtures);
    creates(c, &fixtures);
}

criterion_group!(benches, store);
criterion_main!(benches);
