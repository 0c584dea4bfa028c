//! Criterion benchmarks of the event log, through the library: read the newest 20 events
//! from logs of 1k, 10k and 100k events (the cost must not grow with the history), scan the
//! whole log with a filter that matches nothing (for comparison), and
//! append one event at full and relaxed durability, against a single-file atomic write (what
//! a one-issue commit already costs) as the reference. Under `cargo test --all-targets`
//! (criterion's test mode, no `--bench` argument) each runs once on a 100-event log. See
//! docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use jit::model::{Event, IssueId};
use jit::storage::events::{self, Filter};
use jit::storage::{Durability, Layout, atomic};
use tempfile::TempDir;

/// Log sizes for this run.
fn scales() -> Vec<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return vec![100];
    }
    vec![1_000, 10_000, 100_000]
}

/// Events of about the size jit writes (one issue, the command words), 10,000 a month.
fn event(n: usize) -> Event {
    let start: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    // 10,000 events over 30 days: one every 259.2 s.
    let at = start + SignedDuration::from_millis(n as i64 * 259_200);
    let mut e = Event::new(at, n as u128 * 0x9e37_79b9_7f4a_7c15, "agent:worker-3", "update");
    e.touch(IssueId::from_parts(n as u64, n as u128), Some(3), Some(4));
    e.duration_ms = 4;
    e.command = Some("jit issue update 01kjpwf1".into());
    e
}

/// A store whose log holds `n` events, written segment by segment (as `append` would).
fn log(n: usize) -> (TempDir, Layout) {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = Layout::for_new(dir.path());
    std::fs::create_dir_all(layout.events_dir()).expect("events dir");
    let mut segments: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for i in 0..n {
        let e = event(i);
        segments.entry(events::segment_name(e.at)).or_default().extend(e.to_line());
    }
    for (name, bytes) in segments {
        std::fs::write(layout.events_dir().join(name), bytes).expect("segment");
    }
    (dir, layout)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("events");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    for n in scales() {
        let (_dir, layout) = log(n);
        g.bench_with_input(BenchmarkId::new("read_last_20", n), &layout, |b, l| {
            b.iter(|| {
                let page = events::read(l, &Filter::default(), Some(20)).expect("read");
                assert_eq!(page.events.len(), 20);
                black_box(page)
            })
        });
        // For comparison: a filter that matches nothing reads the whole log.
        let none = Filter { op: Some("no-such-op".into()), ..Filter::default() };
        g.bench_with_input(BenchmarkId::new("scan_all", n), &layout, |b, l| {
            b.iter(|| black_box(events::read(l, &none, Some(20)).expect("read")))
        });
    }
    for (name, durability) in [("full", Durability::Full), ("relaxed", Durability::Relaxed)] {
        let (_dir, layout) = log(100);
        let mut i = 100;
        g.bench_function(BenchmarkId::new("append", name), |b| {
            b.iter(|| {
                i += 1;
                events::append(&layout, &event(i), durability).expect("append")
            })
        });
    }
    // The reference: what one single-file commit already costs (a small file written,
    // fsynced, renamed into place, its directory fsynced), measured under the same load.
    for (name, durability) in [("full", Durability::Full), ("relaxed", Durability::Relaxed)] {
        let (_dir, layout) = log(1);
        let path = layout.root().join("small.json");
        let bytes = event(0).to_line();
        g.bench_function(BenchmarkId::new("atomic_write_reference", name), |b| {
            b.iter(|| atomic::write(&path, &bytes, durability).expect("write"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
