//! Label and assignee syntax.

use crate::error::{Error, Result};

const MAX_LABEL: usize = 128;
const MAX_ASSIGNEE: usize = 128;

/// Check a `namespace:value` label. The namespace is lowercase ASCII (`[a-z0-9][a-z0-9_-]*`);
/// the value is letters, digits (any script) and `. _ - : / + # @`. `*` is reserved for
/// wildcards in queries.
pub fn validate_label(label: &str) -> Result<()> {
    let bad =
        |reason: &str| Error::InvalidLabel { label: label.to_string(), reason: reason.into() };
    if label.len() > MAX_LABEL {
        return Err(bad("longer than 128 bytes"));
    }
    let Some((ns, value)) = label.split_once(':') else {
        return Err(bad("missing `:` between namespace and value"));
    };
    let mut ns_chars = ns.chars();
    match ns_chars.next() {
        None => return Err(bad("empty namespace")),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            return Err(bad("the namespace must start with a lowercase letter or digit"));
        }
        _ => {}
    }
    if !ns_chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return Err(bad("the namespace may hold only a-z, 0-9, `_` and `-`"));
    }
    if value.is_empty() {
        return Err(bad("empty value"));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_alphanumeric() || "._-:/+#@".contains(*c))) {
        return Err(bad(&format!("the value may not contain {c:?}")));
    }
    Ok(())
}

/// Names no assignee may have: `none` (any case), which a filter's `assignee:none` reads as
/// "no assignee", and `-`, which human output shows for an unassigned issue.
pub fn is_reserved_assignee(name: &str) -> bool {
    name.eq_ignore_ascii_case("none") || name == "-"
}

/// Check an assignee name: non-empty, at most 128 bytes, no whitespace or control characters,
/// not a reserved word ([`is_reserved_assignee`]).
pub fn validate_assignee(name: &str) -> Result<()> {
    if is_reserved_assignee(name) {
        return Err(Error::InvalidArgument(format!(
            "invalid assignee `{name}`: `none` and `-` are reserved (a filter's `assignee:none` \
             means unassigned, and `-` is how an unassigned issue is shown); use --unassign to \
             clear the assignee"
        )));
    }
    if name.is_empty()
        || name.len() > MAX_ASSIGNEE
        || name.chars().any(|c| c.is_whitespace() || super::is_layout_char(c))
    {
        return Err(Error::InvalidArgument(format!(
            "invalid assignee `{name}`: 1 to 128 bytes without spaces or control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["type:bug", "epic:phase5.2", "component:ui/login", "team:équipe", "a:b:c"] {
            assert!(validate_label(ok).is_ok(), "{ok}");
        }
        for bad in ["bug", ":x", "Type:bug", "type:", "type:a b", "type:*", "t y:x", "ns:\u{0}"] {
            assert!(validate_label(bad).is_err(), "{bad}");
        }
        assert!(validate_label(&format!("a:{}", "x".repeat(200))).is_err());
    }

    #[test]
    fn assignees() {
        assert!(validate_assignee("agent:claude-1").is_ok());
        assert!(validate_assignee("").is_err());
        assert!(validate_assignee("two words").is_err());
        for reserved in ["none", "None", "NONE", "-"] {
            assert!(validate_assignee(reserved).is_err(), "{reserved}");
        }
        assert!(validate_assignee("none-1").is_ok() && validate_assignee("--").is_ok());
    }
}
