//! Document paths: files of the project an issue refers to. A path is stored relative to
//! the project directory, `/`-separated, with no `.` or `..`; nothing outside the project is
//! ever read through one (a symbolic link that leads out of it counts as outside).

use std::path::{Component, Path, PathBuf};

/// What a stored document path leads to now.
#[derive(Debug, PartialEq, Eq)]
pub enum DocState {
    /// A file (or directory) inside the project.
    Present,
    /// Nothing there.
    Missing,
    /// Not a path inside the project (why).
    Outside(String),
}

/// The stored form of `input`, a path as the user typed it (relative to `cwd`, or absolute):
/// relative to `project`, `/`-separated, `.` and `..` resolved by name. `Err` (why) when it
/// is empty or leads outside the project.
pub fn normalize(project: &Path, cwd: &Path, input: &str) -> Result<String, String> {
    if input.trim().is_empty() {
        return Err("the path is empty".into());
    }
    let full = if Path::new(input).is_absolute() { PathBuf::from(input) } else { cwd.join(input) };
    let full = lexical(&full).ok_or("it leads above the root of the filesystem")?;
    let project = lexical(project).unwrap_or_else(|| project.to_path_buf());
    let rel = full
        .strip_prefix(&project)
        .map_err(|_| format!("it is outside the project ({})", project.display()))?;
    let parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        return Err("it is the project directory itself, not a file in it".into());
    }
    Ok(parts.join("/"))
}

/// `path` with `.` and `..` resolved by name (no file system access); `None` if `..` goes
/// above the root.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Where a stored path leads now. A stored path that is absolute or holds `..` or `.`
/// (a hand edit) is outside; so is one whose real location, symbolic links followed, is.
pub fn state(project: &Path, stored: &str) -> DocState {
    let p = Path::new(stored);
    if stored.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return DocState::Outside("not a plain path relative to the project".into());
    }
    let full = project.join(p);
    if std::fs::symlink_metadata(&full).is_err() {
        return DocState::Missing;
    }
    match (full.canonicalize(), project.canonicalize()) {
        (Ok(real), Ok(root)) if real.starts_with(&root) => DocState::Present,
        (Ok(real), _) => DocState::Outside(format!(
            "a symbolic link leads out of the project, to {}",
            real.display()
        )),
        // A dangling link: there is nothing to read.
        (Err(_), _) => DocState::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_stored_relative_and_never_leave_the_project() {
        let project = Path::new("/p/proj");
        let n = |cwd: &str, i: &str| normalize(project, Path::new(cwd), i);
        assert_eq!(n("/p/proj", "docs/a.md"), Ok("docs/a.md".into()));
        assert_eq!(n("/p/proj/src", "../docs/./a.md"), Ok("docs/a.md".into()));
        assert_eq!(n("/elsewhere", "/p/proj/b.md"), Ok("b.md".into()));
        assert!(n("/p/proj", "../x.md").is_err());
        assert!(n("/p/proj", "/etc/passwd").is_err());
        assert!(n("/p/proj", "").is_err());
        assert!(n("/p/proj", ".").is_err());
        assert!(n("/p/proj", "a/../../../..").is_err());
    }

    #[test]
    fn stored_paths_are_checked_without_leaving_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join("docs")).unwrap();
        std::fs::write(project.join("docs/a.md"), "a").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), project.join("link")).unwrap();
        assert_eq!(state(&project, "docs/a.md"), DocState::Present);
        assert_eq!(state(&project, "docs/b.md"), DocState::Missing);
        assert!(matches!(state(&project, "../secret"), DocState::Outside(_)));
        assert!(matches!(state(&project, "/etc/passwd"), DocState::Outside(_)));
        assert!(matches!(state(&project, "link"), DocState::Outside(_)));
    }
}
