//! The repairs of issues: dangling references, cycles, unknown gates and documents, expired
//! and merged claims, and torn event log lines.

use super::*;

impl Planner<'_, '_> {
    /// Dangling dependencies, cycles, gates not in the registry, and (with `--prune-docs`)
    /// documents that lead nowhere: each issue edited once.
    pub(super) fn references(
        &mut self,
        findings: &[Finding],
        scan: &super::super::files::Scan,
    ) -> Result<()> {
        let mut edits: BTreeMap<IssueId, Edit> = BTreeMap::new();
        let mut done: Vec<(usize, &Finding, &'static str, String, String)> = Vec::new();
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), Some(target)) = (f.issue, f.fix.as_ref().and_then(|x| x.target.clone()))
            else {
                continue;
            };
            let e = edits.entry(id).or_default();
            match f.code {
                "DEP_MISSING" | "DEP_SELF" => {
                    let Ok(dep) = target.parse() else { continue };
                    e.deps.insert(dep);
                    done.push((i, f, "remove_dependency", target, "the dependency".into()));
                }
                "GATE_UNKNOWN" => {
                    e.gates.insert(target.clone());
                    done.push((i, f, "remove_gate", target, "the gate".into()));
                }
                "DOC_MISSING" | "DOC_OUTSIDE" if self.opts.prune_docs => {
                    e.docs.insert(target.clone());
                    done.push((i, f, "remove_document", target, "the document".into()));
                }
                _ => {}
            }
        }
        let mut orphaned = Vec::new();
        for s in &scan.issues {
            for d in s.issue.dependencies.iter().filter(|d| self.gone.contains(d)) {
                edits.entry(s.issue.id).or_default().deps.insert(*d);
                orphaned.push((s.path.clone(), s.issue.id, *d));
            }
        }
        let cycles = self.break_cycles(findings, scan, &mut edits);
        if !cycles.is_empty() {
            // The loop breaks every cycle, whichever finding named it.
            self.settled.extend(
                findings.iter().enumerate().filter(|(_, f)| f.code == "DEP_CYCLE").map(|(i, _)| i),
            );
        }
        let mut failed: HashSet<IssueId> = HashSet::new();
        for (id, edit) in &edits {
            if let Err(e) = self.stage_edit(*id, edit) {
                if matches!(e, Error::Io { .. }) {
                    return Err(e);
                }
                failed.insert(*id); // e.g. VERSION_EXHAUSTED: the finding stays
            }
        }
        for (i, f, action, target, what) in done {
            if f.issue.is_some_and(|id| failed.contains(&id)) {
                continue;
            }
            let m = self.verb(
                &format!("removed {what} {target}"),
                &format!("would remove {what} {target}"),
            );
            self.act(i, f, action, m).target = Some(target);
        }
        for (path, id, dep) in orphaned {
            if failed.contains(&id) {
                continue;
            }
            let m = self.verb(
                &format!(
                    "removed the dependency {dep}: this fix moves its file out of .jit/issues/"
                ),
                &format!(
                    "would remove the dependency {dep}: this fix moves its file out of .jit/issues/"
                ),
            );
            self.actions.push(FixAction {
                code: "DEP_MISSING".into(),
                severity: Severity::Error,
                action: "remove_dependency".into(),
                path,
                issue: Some(id),
                target: Some(dep.to_string()),
                to: None,
                message: m,
            });
        }
        for (i, f, from, to) in cycles {
            if failed.contains(&from) {
                continue;
            }
            let m = self.verb(
                &format!("broke the cycle: removed the dependency {from} → {to}, its newest edge"),
                &format!(
                    "would break the cycle: remove the dependency {from} → {to}, its newest edge"
                ),
            );
            let path = format!("{DIR_NAME}/issues/{}", from.file_name());
            let a = self.act(i, &f, "remove_dependency", m);
            a.issue = Some(from);
            a.path = path;
            a.target = Some(to.to_string());
        }
        Ok(())
    }

    /// Remove one edge of each cycle until none is left, and the newest each time: the edge
    /// leaving the issue on the cycle changed last (`updated_at`; then the larger id), the
    /// one that most likely made the cycle. Returns (finding, from, to) per edge removed.
    pub(super) fn break_cycles(
        &self,
        findings: &[Finding],
        scan: &super::super::files::Scan,
        edits: &mut BTreeMap<IssueId, Edit>,
    ) -> Vec<(usize, Finding, IssueId, IssueId)> {
        let Some(first) = findings.iter().position(|f| f.code == "DEP_CYCLE") else {
            return Vec::new();
        };
        let updated: HashMap<u128, (jiff::Timestamp, u128)> = scan
            .issues
            .iter()
            .map(|s| (s.issue.id.as_u128(), (s.issue.updated_at, s.issue.id.as_u128())))
            .collect();
        let mut adj: BTreeMap<u128, Vec<u128>> = BTreeMap::new();
        for s in &scan.issues {
            let removed = edits.get(&s.issue.id).map(|e| &e.deps);
            let deps = s
                .issue
                .dependencies
                .iter()
                .filter(|d| {
                    removed.is_none_or(|r| !r.contains(d)) && updated.contains_key(&d.as_u128())
                })
                .map(|d| d.as_u128())
                .collect();
            adj.insert(s.issue.id.as_u128(), deps);
        }
        let mut out = Vec::new();
        // Each cycle's finding is the first DEP_CYCLE finding whose cycle holds the edge.
        let cycle_findings: Vec<(usize, &Finding)> =
            findings.iter().enumerate().filter(|(_, f)| f.code == "DEP_CYCLE").collect();
        while let Some(cycle) = crate::graph::find_cycle(&adj) {
            let Some(k) = (0..cycle.len() - 1).max_by_key(|&k| updated.get(&cycle[k])) else {
                break;
            };
            let (from, to) = (cycle[k], cycle[k + 1]);
            if let Some(v) = adj.get_mut(&from) {
                v.retain(|d| *d != to);
            }
            let (from, to) = (IssueId::from_u128(from), IssueId::from_u128(to));
            edits.entry(from).or_default().deps.insert(to);
            let (i, f) = cycle_findings
                .iter()
                .find(|(_, f)| {
                    f.cycle
                        .as_ref()
                        .is_some_and(|c| c.windows(2).any(|w| w[0] == from && w[1] == to))
                })
                .copied()
                .unwrap_or((first, &findings[first]));
            out.push((i, f.clone(), from, to));
        }
        out
    }

    pub(super) fn stage_edit(&mut self, id: IssueId, edit: &Edit) -> Result<()> {
        let mut issue = self.tx.load(id)?.clone();
        issue.dependencies.retain(|d| !edit.deps.contains(d));
        issue.documents.retain(|d| !edit.docs.contains(&d.path));
        for g in &edit.gates {
            if let Some(gate) = issue.gates.remove(g) {
                let kept = RemovedGate {
                    issue: id,
                    gate: g,
                    removed_at: crate::model::time::format(self.tx.now()),
                    definition: &gate,
                };
                let text = serde_json::to_string_pretty(&kept).expect("gate serialises") + "\n";
                let q = self.qdir();
                self.tx.stage_file(format!("{q}/gates/{id}.{g}.json"), text);
            }
        }
        self.tx.stage(issue)?;
        Ok(())
    }

    /// In-progress issues whose lease expired: released to ready (their expiry logged).
    pub(super) fn leases(&mut self, findings: &[Finding], _offset: usize) -> Result<()> {
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), "LEASE_EXPIRED") = (f.issue, f.code) else { continue };
            if !self.opts.dry_run {
                let req = ReleaseRequest { id: id.to_string(), agent: None, state: None };
                let out = ops::release::apply(self.tx, &req)?;
                if out.updated.refused.is_some() {
                    continue;
                }
                self.repo.log_expired(&out.expired);
            }
            let m = self.verb(
                "released to ready and unassigned (the expiry logged as lease_expired)",
                "would release it to ready and unassigned (the expiry logged as lease_expired)",
            );
            self.act(i, f, "release_claim", m);
        }
        Ok(())
    }

    /// Issues a merge left claimed by one of two agents: released to ready and unassigned
    /// (as `jit release`), and the claim's fencing token raised above both claims' tokens (the
    /// one kept and the one the merge dropped, from `merge_overrides`), so that neither
    /// agent's writes pass (`CLAIM_FENCED`) and the next claim of the issue gets a token above
    /// both. Which agent goes on is a person's decision; this makes sure neither does unseen.
    pub(super) fn merged_claims(&mut self, findings: &[Finding]) -> Result<()> {
        for (i, f) in findings.iter().enumerate() {
            let (Some(id), "CLAIM_MERGED") = (f.issue, f.code) else { continue };
            let issue = self.tx.load(id)?.clone();
            let Some(fence) = issue.claim_token().max(dropped_claim_token(&issue)).checked_add(1)
            else {
                continue;
            };
            if !self.opts.dry_run {
                if issue.state == crate::model::State::InProgress {
                    let req = ReleaseRequest { id: id.to_string(), agent: None, state: None };
                    let out = ops::release::apply(self.tx, &req)?;
                    if out.updated.refused.is_some() {
                        continue;
                    }
                    self.repo.log_expired(&out.expired);
                }
                let mut next = self.tx.load(id)?.clone();
                if let Some(claim) = next.claim.as_mut() {
                    claim.token = fence;
                }
                self.tx.stage(next)?;
            }
            let m = self.verb(
                &format!(
                    "released to ready and unassigned, its claim token raised to {fence}: both \
                     agents' writes are fenced until one claims it again"
                ),
                &format!(
                    "would release it to ready and unassigned and raise its claim token to \
                     {fence}, fencing both agents' writes"
                ),
            );
            self.act(i, f, "release_claim", m);
        }
        Ok(())
    }

    /// Segments with bad lines: written again without them, the lines kept in quarantine.
    pub(super) fn event_log(&mut self, findings: &[Finding], segments: &[events::Damaged]) {
        for (i, f) in findings.iter().enumerate() {
            if f.code != "EVENT_LINE_TORN" {
                continue;
            }
            let from = in_store(&f.path).to_string();
            let Some(d) = segments.iter().find(|d| from == format!("events/{}", d.name)) else {
                continue;
            };
            let lines = d
                .cut
                .iter()
                .map(|(n, b)| CutLine {
                    line: *n,
                    text: String::from_utf8_lossy(b).into_owned(),
                    hex: std::str::from_utf8(b)
                        .is_err()
                        .then(|| b.iter().map(|x| format!("{x:02x}")).collect()),
                })
                .collect();
            let cut = CutLines {
                from: &f.path,
                cut_at: crate::model::time::format(self.tx.now()),
                lines,
            };
            let to = format!("{}/{from}.cut.json", self.qdir());
            let text = serde_json::to_string_pretty(&cut).expect("lines serialise") + "\n";
            self.tx.stage_file(from.clone(), d.good.clone());
            self.tx.stage_file(to.clone(), text);
            let n = d.cut.len();
            let m = self.verb(
                &format!("cut {n} lines that are not events; their bytes are kept"),
                &format!("would cut {n} lines that are not events and keep their bytes"),
            );
            self.act(i, f, "cut_event_lines", m).to = Some(format!("{DIR_NAME}/{to}"));
        }
    }
}

/// The highest claim token a merge dropped from `issue` (0: none), as its overrides record
/// it: the field `claim.token`, or the whole `claim`.
fn dropped_claim_token(issue: &Issue) -> u64 {
    let token = |o: &crate::model::MergeOverride| match o.field.as_str() {
        "claim.token" => o.dropped.as_u64(),
        "claim" => o.dropped.get("token").and_then(|t| t.as_u64()),
        _ => None,
    };
    issue.merge_overrides.iter().filter_map(token).max().unwrap_or(0)
}
