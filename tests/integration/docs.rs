//! The docs state only what the binary does: every `jit` command line in README.md and
//! docs/*.md is accepted by the argument parser and does not crash, every filter the query
//! language page lists parses, and the console sessions on that page print exactly what they
//! show.

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
/// shell (substitutions, variables).
fn shell_words(line: &str) -> Option<Vec<String>> {
    if line.contains("$(") || line.contains('`') || line.contains("${") {
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
            if let Some(words) = shell_words(line) {
                if !words.iter().any(|w| placeholder(w)) {
                    out.push(words[1..].to_vec());
                }
            }
        }
    }
    out
}

#[test]
fn every_command_line_in_the_docs_is_accepted() {
    let mut checked = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for args in command_lines(&text) {
            let env = TestEnv::fixture("small");
            let out = env.run(&args);
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
