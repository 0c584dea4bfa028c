//! Crash states beyond process death, after ALICE (Pillai et al., "All File Systems Are Not
//! Created Equal", OSDI 2014). Each command is run under `strace`, which records every
//! file-system call it makes in `.jit/`; a model of the file system replays them and builds
//! the states a power loss could leave at each point: data not yet fsynced lost, directory
//! operations (create, rename, unlink, mkdir) not yet made durable by an fsync of their
//! directory lost as a suffix (a journaling file system commits them in order) or one at a
//! time (reordered). Each state is written out as a repository; the next write must recover
//! it to the store as it was before the command or as the command made it, whole; a state
//! after the command acknowledged must be the new one; and `validate` must find nothing but
//! what `validate --fix` settles. docs/reliability.md describes the model.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::disk::parse_json;

/// One recorded file-system event under `.jit/`.
#[derive(Clone, Debug)]
enum Ev {
    /// A file opened: created (new inode) if missing and `creat`; truncated if `trunc`.
    Open {
        fd: u32,
        path: PathBuf,
        creat: bool,
        trunc: bool,
        append: bool,
    },
    Write {
        fd: u32,
        bytes: Vec<u8>,
        at: Option<u64>,
    },
    Truncate {
        fd: u32,
        len: u64,
    },
    Fsync {
        fd: u32,
    },
    Syncfs,
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    Unlink {
        path: PathBuf,
    },
    Mkdir {
        path: PathBuf,
    },
}

fn unhex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() + 1 && b.get(i + 1) == Some(&b'x') {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The quoted strings of a line, in order (strace `-xx` prints every byte as `\xHH`).
fn quoted(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(s) = rest.find('"') {
        let after = &rest[s + 1..];
        let e = after.find('"').expect("closed string");
        out.push(unhex(&after[..e]));
        rest = &after[e + 1..];
    }
    out
}

/// The fds of a line with their paths (`3<\x2f...>`), in order.
fn fds(line: &str) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    for (i, _) in line.match_indices('<') {
        let mut j = i;
        while j > 0 && b[j - 1].is_ascii_digit() {
            j -= 1;
        }
        if j == i || !line[i + 1..].starts_with("\\x") {
            continue;
        }
        let end = line[i..].find('>').map(|e| i + e).unwrap();
        let path = std::ffi::OsString::from(String::from_utf8(unhex(&line[i + 1..end])).unwrap());
        out.push((line[j..i].parse().unwrap(), PathBuf::from(path)));
    }
    out
}

fn path_of(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8(b.to_vec()).unwrap())
}

/// Parse an strace log into events under `root`, joining `<unfinished ...>` halves.
fn parse(log: &str, root: &Path) -> Vec<Ev> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut evs = Vec::new();
    let under = |p: &Path| p.starts_with(root);
    for raw in log.lines() {
        // strace pads the pid column to five places (`%-5d`): a four-digit pid is followed by
        // two spaces, so the name must be trimmed, or a freshly booted machine parses nothing.
        let (pid, rest) = raw.split_once(' ').unwrap();
        let rest = rest.trim_start();
        let line = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
            continue;
        } else if rest.starts_with("<... ") {
            let tail = &rest[rest.find("resumed>").unwrap() + 8..];
            format!("{}{}", pending.remove(pid).unwrap_or_default(), tail)
        } else {
            rest.to_string()
        };
        let Some((name, _)) = line.split_once('(') else { continue };
        let Some((_, ret)) = line.rsplit_once(") = ") else { continue };
        if ret.starts_with('-') || ret.starts_with('?') {
            continue;
        }
        let q = quoted(&line);
        let f = fds(&line);
        let first_fd = || f.first().cloned();
        match name {
            "openat" | "open" => {
                let (fd, path) = fds(ret).pop().unwrap();
                if under(&path) && !line.contains("O_DIRECTORY") {
                    evs.push(Ev::Open {
                        fd,
                        path,
                        creat: line.contains("O_CREAT"),
                        trunc: line.contains("O_TRUNC"),
                        append: line.contains("O_APPEND"),
                    });
                } else if under(&path) {
                    evs.push(Ev::Open { fd, path, creat: false, trunc: false, append: false });
                }
            }
            "write" | "pwrite64" => {
                let (fd, path) = first_fd().unwrap();
                if under(&path) {
                    let n: usize = ret.trim().parse().unwrap();
                    let mut bytes = q[0].clone();
                    bytes.truncate(n);
                    let at = (name == "pwrite64").then(|| {
                        line.rsplit_once(", ")
                            .unwrap()
                            .1
                            .split(')')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap()
                    });
                    evs.push(Ev::Write { fd, bytes, at });
                }
            }
            "ftruncate" => {
                let (fd, path) = first_fd().unwrap();
                if under(&path) {
                    let len = line.rsplit_once(", ").unwrap().1.split(')').next().unwrap();
                    evs.push(Ev::Truncate { fd, len: len.parse().unwrap() });
                }
            }
            "fsync" | "fdatasync" => {
                let (fd, path) = first_fd().unwrap();
                if under(&path) {
                    evs.push(Ev::Fsync { fd });
                }
            }
            "syncfs" => evs.push(Ev::Syncfs),
            "rename" | "renameat" | "renameat2" => {
                let (from, to) = (path_of(&q[0]), path_of(&q[1]));
                if under(&from) || under(&to) {
                    evs.push(Ev::Rename { from, to });
                }
            }
            "unlink" | "unlinkat" => {
                let p = path_of(&q[0]);
                if under(&p) {
                    evs.push(Ev::Unlink { path: p });
                }
            }
            "mkdir" | "mkdirat" => {
                let p = path_of(&q[0]);
                if under(&p) {
                    evs.push(Ev::Mkdir { path: p });
                }
            }
            _ => {}
        }
    }
    evs
}

/// The model: names (live and durable) over inodes (live data and data as last synced).
#[derive(Clone, Default)]
struct Fs {
    names: BTreeMap<PathBuf, usize>,
    dirs: BTreeSet<PathBuf>,
    data: Vec<Vec<u8>>,
    synced: Vec<Vec<u8>>,
    fds: HashMap<u32, (usize, u64, bool, PathBuf)>,
    /// Directory operations not yet durable: (event index, directory, the op).
    undurable: Vec<(usize, PathBuf, Ev)>,
}

impl Fs {
    fn load(root: &Path) -> Fs {
        let mut fs = Fs::default();
        fn walk(fs: &mut Fs, d: &Path) {
            fs.dirs.insert(d.to_path_buf());
            for e in std::fs::read_dir(d).unwrap().map(|e| e.unwrap()) {
                if e.file_type().unwrap().is_dir() {
                    walk(fs, &e.path());
                } else {
                    let b = std::fs::read(e.path()).unwrap();
                    fs.data.push(b.clone());
                    fs.synced.push(b);
                    fs.names.insert(e.path(), fs.data.len() - 1);
                }
            }
        }
        walk(&mut fs, root);
        fs
    }

    fn meta(&mut self, i: usize, ev: &Ev) {
        let dir = |p: &Path| p.parent().unwrap().to_path_buf();
        match ev {
            Ev::Rename { from, to } => {
                if let Some(ino) = self.names.remove(from) {
                    self.names.insert(to.clone(), ino);
                }
                self.undurable.push((i, dir(to), ev.clone()));
                if dir(from) != dir(to) {
                    self.undurable.push((i, dir(from), ev.clone()));
                }
            }
            Ev::Unlink { path } => {
                self.names.remove(path);
                self.undurable.push((i, dir(path), ev.clone()));
            }
            Ev::Mkdir { path } => {
                self.dirs.insert(path.clone());
                self.undurable.push((i, dir(path), ev.clone()));
            }
            Ev::Open { path, .. } => self.undurable.push((i, dir(path), ev.clone())),
            _ => {}
        }
    }

    fn apply(&mut self, i: usize, ev: &Ev) {
        match ev {
            Ev::Open { fd, path, creat, trunc, append } => {
                let ino = match self.names.get(path) {
                    Some(&ino) => ino,
                    None if *creat => {
                        self.data.push(Vec::new());
                        self.synced.push(Vec::new());
                        self.names.insert(path.clone(), self.data.len() - 1);
                        self.meta(i, ev);
                        self.data.len() - 1
                    }
                    None if self.dirs.contains(path) => {
                        self.fds.insert(*fd, (usize::MAX, 0, false, path.clone()));
                        return;
                    }
                    None => return,
                };
                if *trunc {
                    self.data[ino].clear();
                }
                self.fds.insert(*fd, (ino, 0, *append, path.clone()));
            }
            Ev::Write { fd, bytes, at } => {
                let Some((ino, pos, append, _)) = self.fds.get(fd).cloned() else { return };
                if ino == usize::MAX {
                    return;
                }
                let d = &mut self.data[ino];
                let off = at.unwrap_or(if append { d.len() as u64 } else { pos }) as usize;
                if d.len() < off + bytes.len() {
                    d.resize(off + bytes.len(), 0);
                }
                d[off..off + bytes.len()].copy_from_slice(bytes);
                if at.is_none() {
                    self.fds.get_mut(fd).unwrap().1 = (off + bytes.len()) as u64;
                }
            }
            Ev::Truncate { fd, len } => {
                if let Some((ino, ..)) = self.fds.get(fd).cloned().filter(|f| f.0 != usize::MAX) {
                    self.data[ino].resize(*len as usize, 0);
                }
            }
            Ev::Fsync { fd } => {
                let Some((ino, _, _, path)) = self.fds.get(fd).cloned() else { return };
                if ino == usize::MAX {
                    self.undurable.retain(|(_, d, _)| d != &path);
                } else {
                    self.synced[ino] = self.data[ino].clone();
                    // fsync of a new file makes its own entry durable (ext4, xfs do).
                    self.undurable
                        .retain(|(_, _, e)| !matches!(e, Ev::Open { path: p, .. } if p == &path));
                }
            }
            Ev::Syncfs => {
                self.synced = self.data.clone();
                self.undurable.clear();
            }
            _ => self.meta(i, ev),
        }
    }
}

/// A repository as a power loss could leave it: files by path.
type State = BTreeMap<PathBuf, Vec<u8>>;

/// The states a power loss right after `upto` events could leave.
fn states(initial: &Fs, evs: &[Ev], upto: usize) -> Vec<(State, BTreeSet<PathBuf>, String)> {
    let mut fs = initial.clone();
    for (i, ev) in evs[..upto].iter().enumerate() {
        fs.apply(i, ev);
    }
    // Variants of the directory operations that are lost: none, each suffix, each single one.
    let lost_ops: Vec<usize> =
        fs.undurable.iter().map(|(i, ..)| *i).collect::<BTreeSet<_>>().into_iter().collect();
    let mut lost_sets: Vec<BTreeSet<usize>> = vec![BTreeSet::new()];
    for k in 0..lost_ops.len() {
        lost_sets.push(lost_ops[k..].iter().copied().collect());
        lost_sets.push([lost_ops[k]].into_iter().collect());
    }
    let mut out = Vec::new();
    for lost in lost_sets {
        // Replay the namespace without the lost operations (data is per inode).
        let mut ns = initial.clone();
        for (i, ev) in evs[..upto].iter().enumerate() {
            let is_meta = matches!(ev, Ev::Rename { .. } | Ev::Unlink { .. } | Ev::Mkdir { .. })
                || matches!(ev, Ev::Open { creat: true, path, .. } if !ns.names.contains_key(path));
            if is_meta && lost.contains(&i) {
                if let Ev::Open { fd, .. } = ev {
                    // The file exists for the process, but its entry is lost.
                    ns.apply(i, ev);
                    let path = ns.fds[fd].3.clone();
                    ns.names.remove(&path);
                }
                continue;
            }
            ns.apply(i, ev);
        }
        for data_lost in [false, true] {
            let mut st = State::new();
            for (p, &ino) in &ns.names {
                let ino_live = ino;
                let bytes = if data_lost { &fs.synced } else { &fs.data };
                st.insert(p.clone(), bytes.get(ino_live).cloned().unwrap_or_default());
            }
            out.push((st, ns.dirs.clone(), format!("lost {lost:?}, data lost {data_lost}")));
        }
    }
    out
}

fn short(e: &Ev, root: &Path) -> String {
    let r = |p: &PathBuf| p.strip_prefix(root).unwrap_or(p).display().to_string();
    match e {
        Ev::Open { fd, path, creat, .. } => format!("open {fd} {} creat={creat}", r(path)),
        Ev::Write { fd, bytes, .. } => format!("write {fd} {}", bytes.len()),
        Ev::Truncate { fd, len } => format!("truncate {fd} {len}"),
        Ev::Fsync { fd } => format!("fsync {fd}"),
        Ev::Syncfs => "syncfs".into(),
        Ev::Rename { from, to } => format!("rename {} {}", r(from), r(to)),
        Ev::Unlink { path } => format!("unlink {}", r(path)),
        Ev::Mkdir { path } => format!("mkdir {}", r(path)),
    }
}

fn issues_of(root: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(root.join(".jit/issues"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp."))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Record `args` in a copy of `env`, build every crash state, check that each recovers.
fn check_command(env: &TestEnv, args: &[&str]) -> usize {
    let run = env.copy();
    let root = std::fs::canonicalize(run.path()).unwrap();
    let jit = root.join(".jit");
    let initial = Fs::load(&jit);
    let old = issues_of(&root);
    let log = root.join("strace.log");
    let c = run.cmd(args);
    let program = c.get_program().to_owned();
    let mut s = Command::new("strace");
    s.args(["-f", "-qq", "-y", "-xx", "-s", "16777216", "-o"]).arg(&log);
    s.args(["-e", "trace=open,openat,write,pwrite64,ftruncate,fsync,fdatasync,syncfs,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat"]);
    s.arg(program).args(c.get_args()).current_dir(&root);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    let out = s.output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    let evs = parse(&std::fs::read_to_string(&log).unwrap(), &jit);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        evs.iter().any(|e| matches!(e, Ev::Rename { .. })),
        "{args:?}: nothing recorded in {} events: {}",
        evs.len(),
        text.lines().filter(|l| !l.contains("resumed") && !l.contains("unfinished")).count()
    );
    let new = issues_of(&root);
    assert_ne!(old, new, "{args:?} changes an issue");
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for upto in 0..=evs.len() {
        for (state, dirs, how) in states(&initial, &evs, upto) {
            if !seen.insert(format!("{state:?}{dirs:?}")) {
                continue;
            }
            checked += 1;
            let at = format!("{args:?} after {upto} of {} events, {how}", evs.len());
            let t = TestEnv::bare();
            let base = t.path().join(".jit");
            // A file or directory whose directory's entry was lost is lost with it.
            let kept = |p: &Path| {
                p.ancestors().skip(1).take_while(|a| a.starts_with(&jit)).all(|a| dirs.contains(a))
            };
            for d in dirs.iter().filter(|d| kept(d)) {
                std::fs::create_dir_all(base.join(d.strip_prefix(&jit).unwrap())).unwrap();
            }
            for (p, b) in state.iter().filter(|(p, _)| kept(p)) {
                std::fs::write(base.join(p.strip_prefix(&jit).unwrap()), b).unwrap();
            }
            if !base.join("issues").is_dir() || !base.join("config.json").is_file() {
                panic!("{at}: the repository itself was lost");
            }
            let probe = t.cmd(&["issue", "create", "probe", "--json"]).output().unwrap();
            assert!(probe.status.success(), "{at}: the next write: {}", describe(&probe));
            let id = parse_json(&probe)["id"].as_str().unwrap().to_string();
            let mut now = issues_of(t.path());
            now.remove(&format!("{id}.json"));
            assert!(now == old || now == new, "{at}: neither old nor new: {:?}", now.keys());
            if upto == evs.len() {
                let shown: Vec<String> = evs
                    .iter()
                    .enumerate()
                    .map(|(i, e)| format!("{i}: {}", short(e, &jit)))
                    .collect();
                assert!(
                    now == new,
                    "{at}: the acknowledged change was lost; events:\n{}",
                    shown.join("\n")
                );
            }
            let v = t.cmd(&["validate", "--json"]).output().unwrap();
            for f in parse_json(&v)["findings"].as_array().unwrap() {
                let ok = f["severity"] == "info" || f["code"] == "TEMP_FILE";
                assert!(ok, "{at}: validate found {f:#}");
            }
        }
    }
    checked
}

#[test]
fn every_power_loss_state_of_each_command_recovers() {
    if !have_tool("strace", "strace") {
        return;
    }
    let env = TestEnv::fixed();
    let a = env.create("alpha");
    let b = env.json(&["issue", "create", "beta", "--depends-on", &a])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut total = 0;
    for args in [
        &["issue", "create", "gamma"][..],
        &["issue", "update", &b, "--title", "beta, updated"],
        &["issue", "delete", &a, "--yes"],
    ] {
        total += check_command(&env, args);
    }
    assert!(total > 20, "only {total} states");
}
