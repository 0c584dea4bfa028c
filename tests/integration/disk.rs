//! Helpers for the storage tests (concurrency, crash, index): reading `.jit/` directly, as
//! the truth the commands are checked against, and running `jit` from several threads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{describe, jit_bin};

/// A `jit` command in `project` with the real clock and no test overrides. Unlike
/// `TestEnv::cmd` it needs only a path, so threads can build commands.
pub fn jit_in(project: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(jit_bin());
    c.args(args).current_dir(project).stdin(Stdio::null());
    without_jit_env(&mut c);
    c
}

/// Clear the environment variables that change jit's behaviour (as `TestEnv::cmd` does).
pub fn without_jit_env(c: &mut Command) -> &mut Command {
    for v in [
        "JIT_DIR",
        "JIT_CLAIM_TOKEN",
        "JIT_NOW",
        "JIT_SEED",
        "JIT_LOCK_TIMEOUT_MS",
        "JIT_DURABILITY",
        "JIT_TEST_FAULT",
        "JIT_TRUST_ALL_GATES",
        "JIT_CEILING_DIRECTORIES",
        "JIT_TEST_COARSE_STAMPS",
        "JIT_ACTOR",
    ] {
        c.env_remove(v);
    }
    c
}

/// Run `jit ARGS` in `project`, require exit 0, parse stdout as JSON.
pub fn jit_json(project: &Path, args: &[&str]) -> Value {
    let out = jit_in(project, args).output().expect("run jit");
    assert!(out.status.success(), "jit {}: {}", args.join(" "), describe(&out));
    parse_json(&out)
}

pub fn parse_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

/// Issue files (`<id>.json`) in `.jit/issues`, by id. Temp files and other names are left out.
pub fn issue_paths(issues_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(issues_dir)
        .expect("read issues dir")
        .map(|e| e.expect("dir entry"))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".json")?;
            (!name.starts_with('.')).then(|| (id.to_string(), e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Names of leftover temp files (`.tmp.*`) in a directory.
pub fn temp_files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp."))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What `.jit/issues` really holds, read file by file without jit.
pub struct Truth {
    /// Every valid issue, newest first (id descending), as `issue list --json` orders them.
    pub issues: Vec<Value>,
    /// Files that are not a valid issue named by its id.
    pub bad: Vec<PathBuf>,
}

impl Truth {
    pub fn read(issues_dir: &Path) -> Truth {
        let mut issues = Vec::new();
        let mut bad = Vec::new();
        for (id, path) in issue_paths(issues_dir) {
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(|v| v.is_object() && v["id"].as_str() == Some(id.as_str()));
            match parsed {
                Some(v) => issues.push(v),
                None => bad.push(path),
            }
        }
        issues.sort_by(|a, b| b["id"].as_str().cmp(&a["id"].as_str()));
        Truth { issues, bad }
    }

    /// Like [`Truth::read`] but every file must be a valid issue.
    pub fn read_all_valid(issues_dir: &Path) -> Vec<Value> {
        let t = Truth::read(issues_dir);
        assert!(t.bad.is_empty(), "unparseable or misnamed issue files: {:?}", t.bad);
        t.issues
    }
}

/// A small deterministic random source (xorshift64*), seeded per test so runs repeat.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
