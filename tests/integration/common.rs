//! The test environment: a temporary project with `jit init` done, and helpers to run the
//! real binary in it with a fixed clock and a fresh id seed per command.

#![allow(dead_code)]

use std::cell::Cell;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const FIXED_NOW: &str = "2026-01-02T03:04:05Z";

pub fn jit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jit")
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    seed: Cell<u64>,
    fixed_clock: bool,
}

impl TestEnv {
    /// A fresh repository with the real clock.
    pub fn new() -> TestEnv {
        let env = TestEnv::bare();
        env.ok(&["init"]);
        env
    }

    /// A fresh repository whose commands all run at [`FIXED_NOW`] with seeded ids.
    pub fn fixed() -> TestEnv {
        let mut env = TestEnv::bare();
        env.fixed_clock = true;
        env.ok(&["init"]);
        env
    }

    /// An empty directory, no repository.
    pub fn bare() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        TestEnv { dir, seed: Cell::new(1), fixed_clock: false }
    }

    /// A copy of the hand-made repository `fixtures/<name>`, with the fixed clock.
    pub fn fixture(name: &str) -> TestEnv {
        let mut env = TestEnv::bare();
        env.fixed_clock = true;
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
        copy_tree(&from, env.path());
        env
    }

    /// A copy of this repository in a new temporary directory, with the same clock (and the
    /// id seed starting afresh).
    pub fn copy(&self) -> TestEnv {
        let mut env = TestEnv::bare();
        env.fixed_clock = self.fixed_clock;
        env.seed.set(self.seed.get() + 1000);
        copy_tree(self.path(), env.path());
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn jit_dir(&self) -> PathBuf {
        self.path().join(".jit")
    }

    pub fn issues_dir(&self) -> PathBuf {
        self.jit_dir().join("issues")
    }

    /// A `jit` command in the repository, not yet run.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(jit_bin());
        c.args(args).current_dir(self.path()).stdin(Stdio::null());
        crate::disk::without_jit_env(&mut c);
        if self.fixed_clock {
            let s = self.seed.get();
            self.seed.set(s + 1);
            c.env("JIT_NOW", FIXED_NOW).env("JIT_SEED", s.to_string());
        }
        c
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd(args).output().expect("run jit")
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert_success(&out, args);
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Run with `--json` appended, require exit 0, parse stdout.
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let mut all: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push(OsStr::new("--json"));
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
    }

    /// Run with `--json` appended in a repository with files a read leaves out: require the
    /// partial outcome (exit 1 with the whole result on stdout), parse stdout.
    pub fn json_partial<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let mut all: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push(OsStr::new("--json"));
        let out = self.run(&all);
        assert_eq!(out.status.code(), Some(1), "a partial read: {}", describe(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)))
    }

    /// Run with `--json`, require the given exit code, return the `error` object.
    pub fn json_err<S: AsRef<OsStr>>(&self, args: &[S], code: i32) -> Value {
        let mut all: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push(OsStr::new("--json"));
        let out = self.run(&all);
        assert_eq!(out.status.code(), Some(code), "{}", describe(&out));
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)));
        v["error"].clone()
    }

    /// Create an issue and return its id.
    pub fn create(&self, title: &str) -> String {
        self.json(&["issue", "create", title])["id"].as_str().unwrap().to_string()
    }

    /// Every issue file's bytes, by name, for "nothing changed" checks.
    pub fn issue_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(self.issues_dir())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    }
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn assert_success<S: AsRef<OsStr>>(out: &Output, args: &[S]) {
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    assert!(out.status.success(), "jit {} failed: {}", args.join(" "), describe(out));
}

/// Copy the directory tree `from` into `to` (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Whether the outside program `tool` is on PATH. Every test that runs one (`dot`, `flock`,
/// `script`, `jq`, ...) asks here first and returns at once when it is missing:
///
/// ```ignore
/// if !have_tool("dot", "graphviz") {
///     return;
/// }
/// ```
///
/// A missing tool makes the test pass as skipped, with a line on the real stderr (not the one
/// the test harness captures, so it shows for passing tests too) naming the tool and the
/// Debian/Ubuntu package that has it. `.ci/run` installs them all and fails if one is still
/// missing, so CI never skips.
pub fn have_tool(tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if !found {
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: it needs `{tool}`, which is not on PATH (install the `{package}` \
             package; .ci/run does)"
        );
    }
    found
}
