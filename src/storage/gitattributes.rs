//! `.jit/.gitattributes`: how git merges the files jit keeps. `init` writes it and puts back
//! lines it misses, never removing a line a user added.

/// The comment that opens the file as `init` writes it.
const HEADER: &str = "\
# jit: how git merges these files (see docs/git.md). Issue files merge field by field with
# `jit merge-driver`, registered in the git config, which is not versioned: run
# `jit git-setup` once in every clone.";

/// Every line jit needs. Issue files go through the field-wise driver; the event log
/// segments only ever gain lines, so the union of both sides' lines is their merge.
pub const LINES: &[&str] = &["issues/*.json merge=jit", "events/*.jsonl merge=union"];

/// The file's content with every line of [`LINES`]: all of it for a new file (`None`), or
/// `existing` with the missing lines appended. `None` back when nothing is missing. A line
/// counts as present when its words are the same (spacing aside).
pub fn complete(existing: Option<&str>) -> Option<String> {
    let have: Vec<Vec<&str>> = existing.unwrap_or("").lines().map(words).collect();
    let missing: Vec<&str> = LINES.iter().copied().filter(|l| !have.contains(&words(l))).collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = match existing {
        None => format!("{HEADER}\n"),
        Some(s) if s.is_empty() || s.ends_with('\n') => s.to_string(),
        Some(s) => format!("{s}\n"),
    };
    for l in missing {
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_complete_and_repaired_files() {
        let new = complete(None).unwrap();
        let all = "issues/*.json merge=jit\nevents/*.jsonl merge=union\n";
        assert_eq!(new, format!("{HEADER}\n{all}"));
        assert_eq!(complete(Some(&new)), None);
        assert_eq!(complete(Some("issues/*.json merge=jit\nevents/*.jsonl   merge=union\n")), None);
        assert_eq!(complete(Some("*.png binary")).unwrap(), format!("*.png binary\n{all}"));
        assert_eq!(complete(Some("")).unwrap(), all);
        assert_eq!(
            complete(Some("events/*.jsonl merge=union\n")).unwrap(),
            "events/*.jsonl merge=union\nissues/*.json merge=jit\n",
            "a file from before the driver gains its line"
        );
    }
}
