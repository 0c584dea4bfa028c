//! The docs state only what the binary does: every `jit` command line in README.md and
//! docs/*.md is accepted by the argument parser and does not crash, every filter the query
//! language page lists parses, the console sessions of the query language page, the guide,
//! the errors page and the README print exactly what they show, and the README's tour runs.

use std::path::{Path, PathBuf};

use crate::common::*;

fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The fenced code blocks of a markdown file: (info string, lines).
fn code_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (fence, current.take()) {
            (Some(info), None) => current = Some((info.trim().to_string(), Vec::new())),
            (Some(_), Some(block)) => blocks.push(block),
            (None, Some(mut block)) => {
                block.1.push(line.to_string());
                current = Some(block);
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Split a shell command line into words: single and double quotes, backslash escapes; stops
/// at an unquoted comment, pipe, redirection, `&&` or `;`. `None` for lines that need a real
/// shell (substitutions, variables: the README's tour, which its own test runs with bash).
fn shell_words(line: &str) -> Option<Vec<String>> {
    if line.contains('$') || line.contains('`') {
        return None;
    }
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '#' | '|' | '>' | '<' | ';' | '&' if word.is_none() => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// A word that stands for something the reader fills in (`ID`, `EXPR`, `SHELL`, `…`).
fn placeholder(word: &str) -> bool {
    let upper = word.len() >= 2 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    upper || word.contains('…') || word.contains("...") || word.starts_with('[')
}

/// Every `jit …` line of the code blocks in `text` (with or without a `$ ` prompt).
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (info, lines) in code_blocks(text) {
        if !["sh", "console", "bash", ""].contains(&info.as_str()) {
            continue;
        }
        for line in lines {
            let line = line.trim_start();
            let line = line.strip_prefix("$ ").unwrap_or(line);
            if !line.starts_with("jit ") {
                continue;
            }
            if let Some(words) = shell_words(line)
                && !words.iter().any(|w| placeholder(w))
            {
                out.push(words[1..].to_vec());
            }
        }
    }
    out
}

/// Run `jit ARGS`, or `None` if it is still running after a few seconds (then it is killed):
/// some documented commands wait on purpose.
fn run_unless_waiting(env: &TestEnv, args: &[String]) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut child =
        env.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run jit");
    for _ in 0..200 {
        if child.try_wait().expect("wait for jit").is_some() {
            return Some(child.wait_with_output().expect("collect output"));
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn every_command_line_in_the_docs_is_accepted() {
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for args in command_lines(&text) {
            let env = TestEnv::fixture("small");
            let out = run_unless_waiting(&env, &args);
            if args.first().is_some_and(|a| a == "serve") {
                // A documented `jit serve --detach` leaves a daemon: stopped here.
                let _ = env.run(&["serve", "--stop"]);
            }
            let Some(out) = out else {
                // Still running after a while (`jit claim --wait 5m` waiting for work): it got
                // past the argument parser, which answers a bad line at once.
                checked += 1;
                continue;
            };
            let code = out.status.code();
            assert!(
                code != Some(2) && code != Some(101) && code.is_some(),
                "{}: `jit {}` is not accepted: {}",
                file.display(),
                args.join(" "),
                describe(&out)
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} command lines found: is the extraction broken?");
}

#[test]
fn every_filter_the_query_language_page_lists_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/query-language.md")).unwrap();
    let (_, glance) = code_blocks(&text)
        .into_iter()
        .find(|(info, _)| info == "text")
        .expect("the `At a glance` block");
    let env = TestEnv::bare();
    assert!(glance.len() >= 8);
    for filter in glance {
        let out = env.run(&["query", "--explain", filter.trim()]);
        assert!(out.status.success(), "`{filter}`: {}", describe(&out));
    }
}

#[test]
fn the_console_sessions_of_the_query_language_page_print_what_they_show() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/query-language.md")).unwrap();
    let env = TestEnv::fixed();
    let mut sessions = 0;
    for (info, lines) in code_blocks(&text) {
        if info != "console" {
            continue;
        }
        // `$ command` then the lines it prints (stdout and stderr), up to the next `$ `.
        let mut i = 0;
        while i < lines.len() {
            let cmd = lines[i].strip_prefix("$ ").expect("a session starts with `$ `");
            let shown: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with("$ "))
                .map(|l| l.as_str())
                .collect();
            i += 1 + shown.len();
            let words = shell_words(cmd).unwrap();
            let out = env.run(&words[1..]);
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(printed.trim_end(), shown.join("\n"), "`{cmd}`");
            sessions += 1;
        }
    }
    assert!(sessions >= 5, "{sessions} sessions");
}

/// The lines of the first code block after the heading `heading` in `file` (under the crate).
fn block_after(file: &str, heading: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let at = text.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("{heading}"));
    code_blocks(&text[at..]).remove(0).1
}

/// Whether `word` looks like a literal issue id or id prefix (`01` and four or more base32
/// characters), which a tour pasted into a fresh repository can never find.
fn literal_id(word: &str) -> bool {
    word.len() >= 6
        && word.starts_with("01")
        && word.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

#[test]
fn the_readme_tour_runs_line_by_line_in_a_fresh_directory() {
    if !have_tool("jq", "jq") {
        return;
    }
    let tour = block_after("README.md", "## A short tour");
    assert!(tour.len() >= 15, "{tour:?}");
    for line in &tour {
        let literal = line.split(|c: char| !c.is_ascii_alphanumeric()).find(|w| literal_id(w));
        assert!(literal.is_none(), "a literal id in the tour: {line}");
    }
    // Each line on its own, in order, as a reader pastes them: variables carry over, and the
    // first line that fails (any command of a pipeline or `&&` list) stops the run.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tour.sh"), tour.join("\n") + "\n").unwrap();
    let runner = r#"set -o pipefail
n=0
while IFS= read -r line <&3; do
  n=$((n + 1))
  printf '$ %s\n' "$line"
  eval "$line" || { echo "tour line $n failed: $line" >&2; exit 1; }
done 3< tour.sh"#;
    let bin_dir = Path::new(jit_bin()).parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::rename(dir.path().join("tour.sh"), project.join("tour.sh")).unwrap();
    let mut c = std::process::Command::new("bash");
    crate::disk::without_jit_env(&mut c);
    let out = c
        .args(["--noprofile", "--norc", "-c", runner])
        .current_dir(&project)
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    assert!(out.status.success(), "the README tour failed: {}", describe(&out));
    // It did what it says: the last line prints every title, the dry run finds the bug.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let titles: Vec<&str> = stdout.lines().rev().take(4).collect();
    assert_eq!(
        titles,
        [
            "Design the login form",
            "Implement the login form",
            "Release 1.0",
            "Fix the flaky upload test"
        ]
    );
    let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("matched 1, would modify 1,"), "the dry run finds the bug: {said}");
}

/// A `console` block of a page and how to run it: the comment line just before its fence,
/// `<!-- docs-test: [session=NAME] [fixture=NAME] [config=JSON] -->`, says in which
/// repository. Blocks of one session share a repository, in page order (unmarked blocks are
/// session `main`); a fixture block gets a fresh copy of `fixtures/NAME`; `config` is merged
/// into the session's config.json before its first block.
struct Console {
    session: String,
    fixture: Option<String>,
    config: Option<serde_json::Value>,
    lines: Vec<String>,
}

fn console_blocks(text: &str) -> Vec<Console> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    let mut before = "";
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() != "```console" {
            if !line.trim().is_empty() {
                before = line;
            }
            continue;
        }
        let mut block =
            Console { session: "main".into(), fixture: None, config: None, lines: Vec::new() };
        if let Some(spec) = before.trim().strip_prefix("<!-- docs-test:") {
            let spec = spec.trim_end_matches("-->").trim();
            let (words, config) = spec.split_once("config=").unwrap_or((spec, ""));
            for w in words.split_whitespace() {
                match w.split_once('=') {
                    Some(("session", v)) => block.session = v.into(),
                    Some(("fixture", v)) => {
                        block.fixture = Some(v.into());
                        block.session = format!("fixture {v} {}", out.len());
                    }
                    _ => panic!("unknown docs-test word `{w}` in {before}"),
                }
            }
            if !config.trim().is_empty() {
                block.config = Some(serde_json::from_str(config.trim()).expect("config JSON"));
            }
        }
        for l in lines.by_ref() {
            if l.trim_start() == "```" {
                break;
            }
            block.lines.push(l.get(indent..).unwrap_or("").to_string());
        }
        out.push(block);
        before = "";
    }
    out
}

/// One repository a page's sessions run in, with a clock that moves a minute per command from
/// 2026-03-02T09:00:00Z and a seed that counts commands, so ids and times are reproducible and
/// ids of successive commands differ in their first 8 characters, as a person's would.
struct DocRepo {
    dir: tempfile::TempDir,
    commands: u64,
}

impl DocRepo {
    fn new(fixture: Option<&str>) -> DocRepo {
        let dir = tempfile::tempdir().unwrap();
        if let Some(name) = fixture {
            let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
            copy_tree(&from, dir.path());
        }
        DocRepo { dir, commands: 0 }
    }

    fn run(&mut self, words: &[String]) -> std::process::Output {
        let now = jiff::Timestamp::from_second(1_772_442_000 + 60 * self.commands as i64).unwrap();
        self.commands += 1;
        let mut c = std::process::Command::new(jit_bin());
        crate::disk::without_jit_env(&mut c);
        c.args(words)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .env("JIT_NOW", now.to_string())
            .env("JIT_SEED", self.commands.to_string())
            .output()
            .unwrap()
    }

    /// What a command printed, stdout then stderr, this repository's place shown as
    /// `/path/to/project`.
    fn printed(&self, out: &std::process::Output) -> String {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let real = self.dir.path().canonicalize().unwrap();
        text.replace(&real.display().to_string(), "/path/to/project")
            .replace(&self.dir.path().display().to_string(), "/path/to/project")
    }
}

/// Run every console session of `file` and compare what each command prints with what the
/// page shows. A command shown with no output (the page elides issue cards) must succeed.
/// With `DOCS_PRINT=1` set, it prints what each command printed instead, to update a page.
fn check_console_sessions(file: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let mut repos: std::collections::HashMap<String, DocRepo> = Default::default();
    let mut checked = 0;
    for block in console_blocks(&text) {
        let repo = repos.entry(block.session.clone()).or_insert_with(|| {
            let mut repo = DocRepo::new(block.fixture.as_deref());
            let starts_with_init = block.lines.first().is_some_and(|l| l.trim() == "$ jit init");
            if block.fixture.is_none() && !starts_with_init {
                let out = repo.run(&["init".to_string()]);
                assert!(out.status.success(), "{}", describe(&out));
            }
            repo
        });
        if let Some(config) = &block.config {
            let path = repo.dir.path().join(".jit/config.json");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for (k, val) in config.as_object().unwrap() {
                v[k] = val.clone();
            }
            std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        }
        let mut i = 0;
        while i < block.lines.len() {
            let line = &block.lines[i];
            let cmd = line.strip_prefix("$ ").unwrap_or_else(|| panic!("{file}: `{line}`"));
            let shown: Vec<&str> = block.lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with("$ "))
                .map(|l| l.as_str())
                .collect();
            i += 1 + shown.len();
            let words = shell_words(cmd).unwrap_or_else(|| panic!("{file}: `{cmd}`"));
            assert_eq!(words[0], "jit", "{file}: `{cmd}`");
            let out = repo.run(&words[1..]);
            if std::env::var_os("DOCS_PRINT").is_some() {
                eprintln!("@@ $ {cmd}\n{}", repo.printed(&out).trim_end());
                continue;
            }
            if shown.is_empty() {
                assert!(out.status.success(), "{file}: `{cmd}`: {}", describe(&out));
            } else {
                assert_eq!(repo.printed(&out).trim_end(), shown.join("\n"), "{file}: `{cmd}`");
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn the_console_sessions_of_the_guide_readme_and_errors_page_print_what_they_show() {
    assert!(check_console_sessions("docs/guide.md") >= 25);
    check_console_sessions("docs/errors.md");
    check_console_sessions("README.md");
}

#[test]
fn the_demo_script_runs_and_says_where_its_repository_is() {
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh");
    let mut c = std::process::Command::new("bash");
    crate::disk::without_jit_env(&mut c);
    let out = c
        .arg(&script)
        .env("JIT_DEMO_BIN", jit_bin())
        .env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("The demo repository is in "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(Path::new(dir).join(".jit/config.json").is_file(), "{stdout}");
    assert!(stdout.contains("\n$ jit graph deps "), "{stdout}");
    assert!(stdout.contains("flowchart LR\n"), "{stdout}");
}

/// The language reference travels with the binary: `jit help filters`, `jit query --help`
/// and the manual pages all carry it, and it names every field the parser knows.
#[test]
fn the_filter_reference_is_built_in_and_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("src/cli/filters.txt")).unwrap();
    let env = TestEnv::bare();
    let shown = env.ok(&["help", "filters"]);
    assert_eq!(shown.trim_end(), reference.trim_end());
    assert_eq!(env.ok(&["help", "Filter"]), shown, "names are case-insensitive; `filter` too");
    let v = env.json(&["help", "filters"]);
    assert_eq!(v["topic"], "filters");
    assert_eq!(v["text"].as_str().unwrap().trim_end(), reference.trim_end());
    for field in jit::query::ast::FIELDS {
        let row = format!("\n  {field}:");
        let listed = shown.contains(&row) || shown.contains(&format!("\n  {field} OP "));
        assert!(listed, "`jit help filters` has a row for `{field}`");
    }
    for heading in ["TERMS", "OPERATORS", "MATCHING", "DATES", "COMBINING", "QUOTING AND ESCAPES"] {
        assert!(shown.contains(&format!("\n{heading}\n")), "{heading}");
    }

    let long = env.ok(&["query", "--help"]);
    assert!(long.contains("Examples:\n") && long.contains(reference.trim_end()), "{long}");
    let short = env.ok(&["query", "-h"]);
    assert!(
        !short.contains("QUOTING AND ESCAPES") && short.contains("jit help filters"),
        "{short}"
    );
    assert_eq!(env.ok(&["help", "query"]), long, "`jit help CMD` is `jit CMD --help`");
    assert_eq!(env.ok(&["help", "issue", "create"]), env.ok(&["issue", "create", "--help"]));

    let page = env.ok(&["man"]);
    assert!(page.contains("\n.SH FILTERS\n.nf\n"), "{page}");
    assert!(
        page.contains("\\(aqstate:ready AND priority>=high\\(aq")
            || page.contains("'state:ready AND priority>=high'"),
        "{page}"
    );
    assert!(page.contains("created OP DATE"), "{page}");
    let dir = env.path().join("man1");
    env.ok(&["man", "--out", dir.to_str().unwrap()]);
    let top = std::fs::read_to_string(dir.join("jit.1")).unwrap();
    assert_eq!(top, page, "the same top page either way");
    let query = std::fs::read_to_string(dir.join("jit-query.1")).unwrap();
    assert!(query.contains("QUOTING AND ESCAPES") && query.contains("depends\\-on:P"), "{query}");
    assert!(dir.join("jit-help.1").exists());

    let out = env.run(&["help", "filtres"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: no help on `filtres`: topics: filters; commands: "), "{err}");
    assert!(err.contains("did you mean `filters`?"), "{err}");
    let e = env.json_err(&["help", "issue", "creat"], 2);
    assert_eq!(e["code"], "USAGE");
    assert!(e["message"].as_str().unwrap().contains("did you mean `create`?"), "{e}");
}
