//! The field-change options `issue update` and `issue bulk-update` share.

use crate::cli::CliError;
use crate::model::IssueChanges;

#[derive(Debug, clap::Args)]
pub struct FieldChanges {
    /// New state: backlog, ready, in_progress, gated, done, rejected
    #[arg(short, long)]
    pub state: Option<String>,
    /// New priority: low, normal, high, critical
    #[arg(short, long)]
    pub priority: Option<String>,
    /// Add a `namespace:value` label; repeat or separate with commas for several
    #[arg(long = "add-label", value_name = "LABEL", value_delimiter = ',')]
    pub add_labels: Vec<String>,
    /// Remove a label; repeat or separate with commas for several
    #[arg(long = "remove-label", value_name = "LABEL", value_delimiter = ',')]
    pub remove_labels: Vec<String>,
    /// Assign to someone
    #[arg(short, long, conflicts_with = "unassign")]
    pub assignee: Option<String>,
    /// Remove the assignee
    #[arg(long)]
    pub unassign: bool,
}

impl FieldChanges {
    /// The change these options ask for (state and priority names checked).
    pub fn into_changes(self) -> Result<IssueChanges, CliError> {
        Ok(IssueChanges {
            state: self.state.map(|s| s.parse()).transpose()?,
            priority: self.priority.map(|s| s.parse()).transpose()?,
            add_labels: self.add_labels,
            remove_labels: self.remove_labels,
            assignee: if self.unassign { Some(None) } else { self.assignee.map(Some) },
            ..Default::default()
        })
    }
}
