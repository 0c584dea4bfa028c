//! The entries of `issues/`, one by one: what kind of entry each is, and for issue files,
//! whether they read as an issue named by their file name. Every file is read (the index is
//! one of the things checked, so it cannot be trusted), on several threads.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::{Finding, Progress, rel, schema};
use crate::error::{IoContext, Result};
use crate::model::{Issue, IssueId};
use crate::storage::index::FileStamp;
use crate::storage::{Access, Layout, Opened, atomic, open_regular_at};

/// An issue file that reads as the issue its name says.
pub struct Scanned {
    pub issue: Issue,
    pub path: String,
}

/// What the scan of `issues/` found.
#[derive(Default)]
pub struct Scan {
    /// Entries looked at.
    pub entries: usize,
    /// Valid issues, by id.
    pub issues: Vec<Scanned>,
    /// Every id that has an entry named `<id>.json`, readable or not: a dependency on one of
    /// these is not dangling (a damaged file is reported as itself).
    pub names: HashSet<IssueId>,
    /// The stamp of every valid issue file (by index in `issues`), for the index check.
    pub stamps: Vec<FileStamp>,
    /// The largest issue file, in bytes.
    pub largest: u64,
}

/// What reading one issue file gave.
struct Read1 {
    findings: Vec<Finding>,
    /// The issue inside, if it parsed (whatever its id).
    issue: Option<Issue>,
    stamp: Option<FileStamp>,
}

/// Below this many files, one thread reads them as fast as several.
const PARALLEL_MIN: usize = 256;

pub fn scan(layout: &Layout, progress: Progress, findings: &mut Vec<Finding>) -> Result<Scan> {
    let dir_path = layout.issues_dir();
    match std::fs::symlink_metadata(&dir_path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let msg =
                "issues/ is not a directory (a symbolic link or a file): no issue can be read";
            findings.push(Finding::new("ISSUES_DIR_INVALID", rel("issues"), msg));
            return Ok(Scan::default());
        }
        Err(_) => {
            let msg = "issues/ is missing: `jit init` makes it again and touches nothing else";
            findings.push(Finding::new("ISSUES_DIR_INVALID", rel("issues"), msg));
            return Ok(Scan::default());
        }
    }
    let dir = crate::storage::open_dir(&dir_path).at(&dir_path)?;
    let mut names: Vec<OsString> = std::fs::read_dir(&dir_path)
        .at(&dir_path)?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    let mut scan = Scan { entries: names.len(), ..Scan::default() };
    let mut to_read: Vec<(IssueId, String)> = Vec::new();
    for name in &names {
        let text = name.to_string_lossy();
        let path = rel(&format!("issues/{text}"));
        if text.starts_with(atomic::TEMP_PREFIX) {
            temp_file(&dir_path.join(name), &text, path, findings);
        } else if let Some(id) = name.to_str().and_then(IssueId::from_file_name) {
            scan.names.insert(id);
            to_read.push((id, path));
        } else {
            let kind = kind_of(&dir_path.join(name));
            findings.push(Finding::new(
                "FOREIGN_FILE",
                path,
                format!(
                    "{kind} that is not an issue file (issue files are named <id>.json, with a \
                     26-character lowercase id); jit ignores it: move it out of .jit/issues/"
                ),
            ));
        }
    }
    let reads = read_all(&dir, &to_read, progress);
    let mut mismatched: Vec<(usize, IssueId)> = Vec::new();
    for (i, ((id, path), read)) in to_read.iter().zip(reads).enumerate() {
        findings.extend(read.findings);
        let Some(issue) = read.issue else { continue };
        let Some(stamp) = read.stamp else { continue };
        scan.largest = scan.largest.max(stamp.size);
        if issue.id == *id {
            scan.issues.push(Scanned { issue, path: path.clone() });
            scan.stamps.push(stamp);
        } else {
            mismatched.push((i, issue.id));
        }
    }
    id_mismatches(&to_read, &mismatched, &scan.names, findings);
    Ok(scan)
}

/// A file whose id is not its name: a duplicate when another file has that id (a copy),
/// else a mismatch (a rename by hand). Neither file is listed under the inner id.
fn id_mismatches(
    files: &[(IssueId, String)],
    mismatched: &[(usize, IssueId)],
    names: &HashSet<IssueId>,
    findings: &mut Vec<Finding>,
) {
    let mut inner_count: HashMap<IssueId, usize> = HashMap::new();
    for (_, inner) in mismatched {
        *inner_count.entry(*inner).or_default() += 1;
    }
    for (i, inner) in mismatched {
        let (id, path) = &files[*i];
        let f = if names.contains(inner) || inner_count[inner] > 1 {
            let other = if names.contains(inner) {
                format!("{inner}.json holds that id too")
            } else {
                "other misnamed files hold it too".to_string()
            };
            Finding::new(
                "ISSUE_DUPLICATE_ID",
                path.clone(),
                format!(
                    "holds issue {inner}, but {other}: a copy; jit lists neither this file nor \
                     {id}; compare the two and move this one out of .jit/issues/"
                ),
            )
        } else {
            Finding::new(
                "ISSUE_ID_MISMATCH",
                path.clone(),
                format!(
                    "the file name says {id} but the issue inside is {inner}; jit skips it: \
                     rename it to {inner}.json (or restore it with git)"
                ),
            )
        };
        findings.push(f.issue(*id));
    }
}

/// Read and check every issue file, in parallel when there are many.
fn read_all(dir: &File, files: &[(IssueId, String)], progress: Progress) -> Vec<Read1> {
    let done = AtomicUsize::new(0);
    let total = files.len();
    let work = |chunk: &[(IssueId, String)]| -> Vec<Read1> {
        chunk
            .iter()
            .map(|(id, path)| {
                let r = read_one(dir, *id, path);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(512) || n == total {
                    progress(n, total);
                }
                r
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || files.len() < PARALLEL_MIN {
        return work(files);
    }
    let size = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(size).map(|c| s.spawn(move || work(c))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn read_one(dir: &File, id: IssueId, path: &str) -> Read1 {
    let mut out = Read1 { findings: Vec::new(), issue: None, stamp: None };
    let name = id.file_name();
    let unreadable = |e: std::io::Error| {
        Finding::new("ISSUE_UNREADABLE", path, format!("cannot be read: {e}")).issue(id)
    };
    let mut file = match open_regular_at(dir, Path::new(&name), Access::Read) {
        Ok(Opened::File(f)) => f,
        Ok(Opened::Missing) => return out, // removed since listed: nothing to say
        Ok(Opened::NotRegular) => {
            let kind = kind_at(dir, &name);
            out.findings.push(
                Finding::new(
                    "ISSUE_NOT_REGULAR",
                    path,
                    format!(
                        "{kind} where an issue file belongs; jit never follows or reads it, so \
                         no issue {id} is listed: replace it with the issue file (e.g. from git) \
                         or move it out of .jit/issues/"
                    ),
                )
                .issue(id),
            );
            return out;
        }
        Err(e) => {
            out.findings.push(unreadable(e));
            return out;
        }
    };
    let mut bytes = Vec::new();
    let meta = file.metadata();
    if let Err(e) = file.read_to_end(&mut bytes) {
        out.findings.push(unreadable(e));
        return out;
    }
    out.stamp = meta.ok().map(|m| FileStamp::of(&m));
    out.issue = check_bytes(id, path, &bytes, &mut out.findings);
    out
}

/// Check the bytes of the issue file `path` (named for `id`): the issue inside if it parses.
pub fn check_bytes(
    id: IssueId,
    path: &str,
    bytes: &[u8],
    findings: &mut Vec<Finding>,
) -> Option<Issue> {
    let mut push = |code, msg: String| findings.push(Finding::new(code, path, msg).issue(id));
    if let Some(why) = crate::model::foreign_encoding(bytes) {
        push("ISSUE_UNPARSEABLE", why.to_string());
        return None;
    }
    if let Some(line) = conflict_marker_line(bytes) {
        push(
            "ISSUE_CONFLICT_MARKERS",
            format!(
                "git conflict markers at line {line}: the file is an unresolved merge, not an \
                 issue, and jit skips it; during the merge, settle it as its ISSUE_UNMERGED \
                 finding says; after one, restore the last good version (`git log -- {path}`, \
                 then `git checkout <commit> -- {path}`) and make the other side's change again \
                 with `jit issue update`"
            ),
        );
        return None;
    }
    let value: Value = match serde_json::from_slice(crate::model::without_bom(bytes)) {
        Ok(v) => v,
        Err(e) if e.classify() == serde_json::error::Category::Eof => {
            push(
                "ISSUE_TRUNCATED",
                format!(
                    "the file ends before the JSON does ({} bytes, {e}): a partial write; jit \
                     skips it: restore it (e.g. with git)",
                    bytes.len()
                ),
            );
            return None;
        }
        Err(e) => {
            push("ISSUE_UNPARSEABLE", format!("not JSON: {e}; jit skips it: fix or restore it"));
            return None;
        }
    };
    let issue = match <Issue as serde::Deserialize>::deserialize(&value) {
        Ok(i) => i,
        Err(e) => {
            // Parsed again from the bytes only to say where: the position is in that error.
            let e = Issue::from_slice(bytes).err().map_or(e.to_string(), |e| e.to_string());
            push("ISSUE_SCHEMA", format!("not a valid issue: {e}; jit skips it: fix the field"));
            return None;
        }
    };
    schema::check_values(&issue, &value, path, findings);
    Some(issue)
}

/// The line (1-based) of the first git conflict marker, if the file has them: a line
/// starting `<<<<<<<` and a later one starting `>>>>>>>`.
fn conflict_marker_line(bytes: &[u8]) -> Option<usize> {
    let mut start = None;
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if start.is_none() && line.starts_with(b"<<<<<<<") {
            start = Some(n + 1);
        } else if start.is_some() && line.starts_with(b">>>>>>>") {
            return start;
        }
    }
    None
}

/// A `.tmp.<pid>.<n>.<name>` temp file: left over if its writer is gone. One whose writer is
/// running (a `create` prepares its file before taking the lock) is not a finding.
fn temp_file(full: &Path, name: &str, path: String, findings: &mut Vec<Finding>) {
    let pid = name
        .strip_prefix(atomic::TEMP_PREFIX)
        .and_then(|r| r.split('.').next())
        .and_then(|p| p.parse::<u32>().ok());
    let meta = std::fs::symlink_metadata(full).ok();
    let written = meta.as_ref().and_then(|m| m.modified().ok());
    if pid.is_some_and(|p| atomic::writer_running(p, written))
        && Path::new("/proc/self").exists()
        && pid != Some(std::process::id())
    {
        return;
    }
    let size = meta.map_or(0, |m| m.len());
    let who = pid.map_or("a writer".to_string(), |p| format!("process {p}"));
    findings.push(
        Finding::new(
            "TEMP_FILE",
            path,
            format!(
                "a temp file ({size} bytes) left by {who}, which is no longer running: a write \
                 that never finished, so the issue it was for is unchanged; nothing reads it, \
                 and it can be removed"
            ),
        )
        .fix("remove_temp_file", None),
    );
}

/// What `path` is, for messages ("a directory", "a symbolic link", ...).
fn kind_of(path: &Path) -> &'static str {
    match std::fs::symlink_metadata(path) {
        Ok(m) => kind_name(&m.file_type()),
        Err(_) => "an entry",
    }
}

fn kind_at(dir: &File, name: &str) -> &'static str {
    use rustix::fs::{AtFlags, FileType, statat};
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Symlink => "a symbolic link",
            FileType::Directory => "a directory",
            FileType::Fifo => "a FIFO",
            FileType::Socket => "a socket",
            FileType::CharacterDevice | FileType::BlockDevice => "a device",
            _ => "a file",
        },
        Err(_) => "an entry",
    }
}

fn kind_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_markers_need_both_ends() {
        assert_eq!(conflict_marker_line(b"{\n<<<<<<< HEAD\na\n=======\nb\n>>>>>>> x\n}"), Some(2));
        assert_eq!(conflict_marker_line(b"{\n<<<<<<< HEAD\n}"), None);
        assert_eq!(conflict_marker_line(b"{\"title\": \"<<<<<<< not at a line start\"}"), None);
    }

    #[test]
    fn bytes_are_sorted_into_truncated_unparseable_and_schema() {
        let id = IssueId::from_parts(1, 2);
        let code = |b: &[u8]| {
            let mut f = Vec::new();
            check_bytes(id, "p", b, &mut f);
            f.into_iter().map(|f| f.code).collect::<Vec<_>>()
        };
        assert_eq!(code(b""), ["ISSUE_TRUNCATED"]);
        assert_eq!(code(b"{\"id\": \"01"), ["ISSUE_TRUNCATED"]);
        assert_eq!(code(b"{\"id\": x}"), ["ISSUE_UNPARSEABLE"]);
        assert_eq!(code(b"\xFF\xFE{}"), ["ISSUE_UNPARSEABLE"]);
        assert_eq!(code(b"[]"), ["ISSUE_SCHEMA"]);
        assert_eq!(code(b"{\"id\": 1}"), ["ISSUE_SCHEMA"]);
    }
}
