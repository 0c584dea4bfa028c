//! Graph export as Graphviz DOT, a Mermaid flowchart, or JSON. An edge `A → B` means
//! "A depends on B".

use serde_json::{Value, json};

use crate::model::{IssueId, State};

/// A node to export.
pub struct ExportNode {
    pub id: IssueId,
    pub title: String,
    pub state: State,
}

/// Graphviz DOT; accepted by `dot`.
/// Labels show the first `id_len` characters of each id.
pub fn dot(nodes: &[ExportNode], edges: &[(IssueId, IssueId)], id_len: usize) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph jit {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in nodes {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\\n({})\"];\n",
            n.id,
            n.id.short(id_len),
            esc(&n.title),
            n.state
        ));
    }
    for (a, b) in edges {
        out.push_str(&format!("  \"{a}\" -> \"{b}\";\n"));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart.
pub fn mermaid(nodes: &[ExportNode], edges: &[(IssueId, IssueId)], id_len: usize) -> String {
    let esc = |s: &str| {
        s.chars()
            .map(|c| match c {
                '"' => "#quot;".to_string(),
                '#' => "#35;".to_string(),
                '<' => "#lt;".to_string(),
                '>' => "#gt;".to_string(),
                // Mermaid would read `&amp;` in a title as an entity and show `&`.
                '&' => "#amp;".to_string(),
                // A line break would end the node's line; hand-edited titles can hold one.
                c if c.is_control() => " ".to_string(),
                c => c.to_string(),
            })
            .collect::<String>()
    };
    let mut out = String::from("flowchart LR\n");
    for n in nodes {
        out.push_str(&format!(
            "  n{}[\"{}: {} ({})\"]\n",
            n.id,
            n.id.short(id_len),
            esc(&n.title),
            n.state
        ));
    }
    for (a, b) in edges {
        out.push_str(&format!("  n{a} --> n{b}\n"));
    }
    out
}

/// `{"nodes": [...], "edges": [{"from", "to"}]}`.
pub fn json(nodes: &[ExportNode], edges: &[(IssueId, IssueId)]) -> Value {
    json!({
        "nodes": nodes.iter().map(|n| json!({"id": n.id, "title": n.title, "state": n.state})).collect::<Vec<_>>(),
        "edges": edges.iter().map(|(a, b)| json!({"from": a, "to": b})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let a = IssueId::from_parts(1, 1);
        let b = IssueId::from_parts(2, 2);
        let nodes = vec![
            ExportNode { id: a, title: "say \"hi\" \\ now".into(), state: State::Ready },
            ExportNode { id: b, title: "<b>#1</b> &amp;".into(), state: State::Done },
        ];
        let d = dot(&nodes, &[(a, b)], 10);
        assert!(d.contains(r#"say \"hi\" \\ now"#), "{d}");
        assert!(d.contains(&format!("\"{a}\" -> \"{b}\";")));
        let m = mermaid(&nodes, &[(a, b)], 10);
        assert!(
            m.contains("#lt;b#gt;#35;1#lt;/b#gt; #amp;amp;") && m.contains("#quot;hi#quot;"),
            "{m}"
        );
        assert!(m.starts_with("flowchart LR\n") && m.contains(&format!("n{a} --> n{b}")));
        let j = json(&nodes, &[(a, b)]);
        assert_eq!(j["edges"][0]["from"], a.to_string());
    }
}
