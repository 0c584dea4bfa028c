//! The test hook `JIT_TEST_FAULT`: failpoints on the write path. Compiled in only with the
//! `failpoints` cargo feature, which the test build turns on (the crate is its own
//! dev-dependency with that feature) and a release build does not: there, every function
//! here is a no-op and the variable is never read.
//!
//! The value is a comma-separated list of:
//!
//! - `enospc`: every temp-file write stops half-way with "no space left on device";
//!   `enospc:N`: the first N temp-file writes succeed and every later one fails so;
//! - `crash:STEP` or `crash:STEP:N`: the process kills itself (SIGKILL: no destructor runs,
//!   nothing is flushed) the Nth time (default 1st) it reaches STEP;
//! - `eio:STEP` or `eio:STEP:N`: the Nth time it reaches STEP, that step fails with an I/O
//!   error instead (as if the disk had refused it).
//!
//! The steps, in the order a write reaches them (see [`Step`]): `temp_written`,
//! `temp_synced`, `renamed`, `before_dir_sync`, `after_dir_sync`, `journal_record`,
//! `journal_apply`, `index_updated`, `event_appended`.

/// A named step of the write path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A temp file's bytes are written (not yet fsynced).
    TempWritten,
    /// A temp file is fsynced (reached with full durability only).
    TempSynced,
    /// A temp file was renamed over its target.
    Renamed,
    /// Just before a directory is fsynced (full durability only).
    BeforeDirSync,
    /// Just after a directory was fsynced (full durability only).
    AfterDirSync,
    /// A journal record is complete and durable; no target file has been touched.
    JournalRecord,
    /// In the middle of applying a journal record: one more of its files was changed.
    JournalApply,
    /// The index was updated for the files a commit wrote.
    IndexUpdated,
    /// A commit's event was appended to the log.
    EventAppended,
}

impl Step {
    /// Every step, in the order a write reaches them.
    pub const ALL: [Step; 9] = [
        Step::TempWritten,
        Step::TempSynced,
        Step::Renamed,
        Step::BeforeDirSync,
        Step::AfterDirSync,
        Step::JournalRecord,
        Step::JournalApply,
        Step::IndexUpdated,
        Step::EventAppended,
    ];

    /// The name `JIT_TEST_FAULT` uses.
    pub fn name(self) -> &'static str {
        match self {
            Step::TempWritten => "temp_written",
            Step::TempSynced => "temp_synced",
            Step::Renamed => "renamed",
            Step::BeforeDirSync => "before_dir_sync",
            Step::AfterDirSync => "after_dir_sync",
            Step::JournalRecord => "journal_record",
            Step::JournalApply => "journal_apply",
            Step::IndexUpdated => "index_updated",
            Step::EventAppended => "event_appended",
        }
    }
}

/// Reach `step`: kill the process or fail there if `JIT_TEST_FAULT` says so.
#[cfg(feature = "failpoints")]
pub fn reach(step: Step) -> std::io::Result<()> {
    imp::reach(step)
}

/// Reach `step` (no hook in this build).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn reach(_step: Step) -> std::io::Result<()> {
    Ok(())
}

/// Whether the next temp-file write must fail half-way as on a full disk (counts the write).
#[cfg(feature = "failpoints")]
pub fn disk_full_now() -> bool {
    imp::disk_full_now()
}

/// Whether the next temp-file write must fail as on a full disk (never, in this build).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn disk_full_now() -> bool {
    false
}

/// Whether the disk is simulated full from the start (`JIT_TEST_FAULT=enospc`): `validate`
/// then sees no free space.
#[cfg(feature = "failpoints")]
pub fn disk_full() -> bool {
    imp::faults().enospc_after == Some(0)
}

/// Whether the disk is simulated full (never, in this build).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn disk_full() -> bool {
    false
}

/// Whether inotify must be refused as when the per-user instance limit is reached
/// (`JIT_TEST_FAULT=no_inotify`).
#[cfg(feature = "failpoints")]
pub fn inotify_refused() -> bool {
    imp::faults().no_inotify
}

/// Whether inotify must be refused (never, in this build).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn inotify_refused() -> bool {
    false
}

#[cfg(feature = "failpoints")]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::Step;

    #[derive(Default)]
    pub struct Faults {
        pub enospc_after: Option<u64>,
        pub no_inotify: bool,
        /// (step, nth, kill): kill the process, or fail with an I/O error.
        points: Vec<(Step, u64, bool)>,
    }

    static REACHED: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];
    static TEMP_WRITES: AtomicU64 = AtomicU64::new(0);

    pub fn faults() -> &'static Faults {
        static F: OnceLock<Faults> = OnceLock::new();
        F.get_or_init(|| parse(&std::env::var("JIT_TEST_FAULT").unwrap_or_default()))
    }

    fn parse(spec: &str) -> Faults {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = item.split(':').collect();
            let n = |i: usize| parts.get(i).and_then(|s| s.parse::<u64>().ok());
            match parts[0] {
                "enospc" => f.enospc_after = Some(n(1).unwrap_or(0)),
                "no_inotify" => f.no_inotify = true,
                kind @ ("crash" | "eio") => {
                    let step = Step::ALL.iter().find(|s| Some(&s.name()) == parts.get(1));
                    // A misspelt step is a broken test, not a fault to ignore.
                    let step =
                        step.unwrap_or_else(|| panic!("JIT_TEST_FAULT: no step in `{item}`"));
                    f.points.push((*step, n(2).unwrap_or(1), kind == "crash"));
                }
                _ => panic!("JIT_TEST_FAULT: unknown fault `{item}`"),
            }
        }
        f
    }

    pub fn reach(step: Step) -> std::io::Result<()> {
        let f = faults();
        if f.points.is_empty() {
            return Ok(());
        }
        let i = Step::ALL.iter().position(|s| *s == step).expect("a step");
        let count = REACHED[i].fetch_add(1, Ordering::Relaxed) + 1;
        for (s, nth, kill) in &f.points {
            if *s == step && *nth == count {
                if *kill {
                    let me = rustix::process::getpid();
                    let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
                    std::process::abort(); // not reached
                }
                return Err(std::io::Error::other(format!("injected fault at {}", step.name())));
            }
        }
        Ok(())
    }

    pub fn disk_full_now() -> bool {
        match faults().enospc_after {
            None => false,
            Some(after) => TEMP_WRITES.fetch_add(1, Ordering::Relaxed) >= after,
        }
    }
}
