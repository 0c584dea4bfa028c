//! Claims that hold across clones (`jit claim --remote`, `jit release --remote`), with no
//! server: a claim is the ref `refs/jit/claims/<id>` on a git remote, pointing at a small
//! commit that records who holds it. The ref is made by a push with `--force-with-lease`
//! whose expected value is empty ("the ref must not exist") or the expired claim it takes
//! over, so the remote decides who wins: of two clones racing for one issue, one push is
//! refused. git is run as a program; see docs/git.md, "Remote claims".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::api::RemoteClaim;
use crate::error::{Error, RemoteHolder, Result};
use crate::storage::leases::{LeaseStore, RemoteLease};

/// Where claim refs live on the remote.
pub const REF_PREFIX: &str = "refs/jit/claims/";

/// What a claim ref's commit records, as its message (one line of JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's format: 1.
    pub jit_claim: u32,
    pub id: String,
    pub agent: String,
    /// The fencing token of the claim in its clone.
    pub token: u64,
    pub host: String,
    pub claimed_at: String,
    pub lease_expires_at: String,
    /// Random: tells two claims apart that agree on everything else.
    pub nonce: String,
}

impl Record {
    /// The record of a claim (a fresh nonce, this host).
    fn of(bid: &Bid) -> Result<Record> {
        Ok(Record {
            jit_claim: 1,
            id: bid.id.into(),
            agent: bid.agent.into(),
            token: bid.token,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            claimed_at: crate::model::time::format(bid.claimed_at),
            lease_expires_at: crate::model::time::format(bid.expires_at),
            nonce: nonce()?,
        })
    }
}

/// A claim ref as the last fetch saw it.
#[derive(Clone, Debug)]
pub struct Held {
    pub object: String,
    /// `None`: the commit is not a claim record jit can read (written by something else).
    pub record: Option<Record>,
}

impl Held {
    /// Whether its lease still holds at `now`. A ref jit cannot read never expires: only
    /// `--steal` takes it over.
    pub fn live(&self, now: Timestamp) -> bool {
        let expiry = self.record.as_ref().map(|r| crate::model::time::parse(&r.lease_expires_at));
        match expiry {
            Some(Ok(t)) => t > now,
            _ => true,
        }
    }

    /// "agent (host H)" for messages.
    pub fn holder(&self) -> String {
        match &self.record {
            Some(r) => format!("{} (host {})", r.agent, r.host),
            None => format!("an unreadable claim (commit {})", self.object),
        }
    }

    /// The lost race's error: `ALREADY_CLAIMED` naming the winner.
    pub fn claimed_error(&self, id: &str, remote: &str) -> Error {
        let (agent, host, token, expires_at) = match &self.record {
            Some(r) => (r.agent.clone(), r.host.clone(), r.token, r.lease_expires_at.clone()),
            None => ("unknown".into(), "unknown".into(), 0, String::new()),
        };
        let (id, remote) = (id.into(), remote.into());
        Error::ClaimedRemotely(Box::new(RemoteHolder {
            id,
            remote,
            agent,
            host,
            token,
            expires_at,
        }))
    }
}

/// A git remote of this clone, checked to exist.
#[derive(Clone, Debug)]
pub struct Remote {
    dir: PathBuf,
    name: String,
}

/// Run git in `dir`; `GIT_NOT_FOUND` when git is not installed.
fn git(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Result<Output> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(o) => Ok(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::GitNotFound { what: "a remote claim".into() })
        }
        Err(e) => Err(Error::GitFailed { command: args.join(" "), message: e.to_string() }),
    }
}

fn failed(args: &[&str], out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    Error::GitFailed { command: args.join(" "), message: stderr.trim().to_string() }
}

fn stdout_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Remote {
    /// The remote `name` of the clone holding `dir`: `REMOTE_UNKNOWN` (naming the remotes
    /// there are) when it has none of that name, `NOT_A_GIT_REPOSITORY` outside a clone.
    pub fn open(dir: &Path, name: &str) -> Result<Remote> {
        let args = ["remote"];
        let out = git(dir, &args, &[])?;
        if !out.status.success() {
            if String::from_utf8_lossy(&out.stderr).contains("not a git repository") {
                return Err(Error::NotGitRepo { path: dir.to_path_buf() });
            }
            return Err(failed(&args, &out));
        }
        let known: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        if !known.iter().any(|k| k == name) {
            return Err(Error::RemoteUnknown { remote: name.into(), known });
        }
        Ok(Remote { dir: dir.to_path_buf(), name: name.into() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This clone's copy of the remote's claim refs.
    fn tracking(&self) -> String {
        format!("refs/jit/remotes/{}/claims/", self.name)
    }

    /// Fetch every claim ref of the remote (into `refs/jit/remotes/<remote>/claims/`, pruned)
    /// and read them. Call under the local-state lock: it serialises the clone's fetches.
    pub fn fetch(&self) -> Result<BTreeMap<String, Held>> {
        let spec = format!("+{REF_PREFIX}*:{}*", self.tracking());
        let args = ["fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head"];
        let mut all: Vec<&str> = args.to_vec();
        all.extend([self.name.as_str(), spec.as_str()]);
        let out = git(&self.dir, &all, &[])?;
        if !out.status.success() {
            return Err(failed(&all, &out));
        }
        let tracking = self.tracking();
        let list = [
            "for-each-ref",
            "--format=%(refname)%09%(objectname)%09%(contents:subject)",
            tracking.as_str(),
        ];
        let out = git(&self.dir, &list, &[])?;
        if !out.status.success() {
            return Err(failed(&list, &out));
        }
        let mut held = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.splitn(3, '\t');
            let (Some(refname), Some(object)) = (parts.next(), parts.next()) else { continue };
            let Some(id) = refname.strip_prefix(&tracking) else { continue };
            let record = parts
                .next()
                .and_then(|m| serde_json::from_str::<Record>(m).ok())
                .filter(|r| r.id == id && r.jit_claim == 1);
            held.insert(id.to_string(), Held { object: object.into(), record });
        }
        Ok(held)
    }

    /// Make the commit of `record` (an empty tree; the old claim, if any, as its parent, so
    /// the ref's history is the remote claims) in this clone. Its dates are the
    /// claim's, so a fixed clock (`JIT_NOW`) makes it reproducible.
    pub fn make_object(&self, record: &Record, parent: Option<&str>) -> Result<String> {
        let out = git(&self.dir, &["mktree"], &[])?;
        if !out.status.success() {
            return Err(failed(&["mktree"], &out));
        }
        let tree = stdout_line(&out);
        let message = serde_json::to_string(record).expect("a record serialises");
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message.as_str()];
        if let Some(p) = parent {
            args.extend(["-p", p]);
        }
        let secs = crate::model::time::parse(&record.claimed_at).map_or(0, |t| t.as_second());
        let date = format!("@{secs} +0000");
        let who = format!("jit@{}", record.host);
        let env = [
            ("GIT_AUTHOR_NAME", record.agent.clone()),
            ("GIT_AUTHOR_EMAIL", who.clone()),
            ("GIT_AUTHOR_DATE", date.clone()),
            ("GIT_COMMITTER_NAME", "jit".to_string()),
            ("GIT_COMMITTER_EMAIL", who),
            ("GIT_COMMITTER_DATE", date),
        ];
        let out = git(&self.dir, &args, &env)?;
        if !out.status.success() {
            return Err(failed(&args, &out));
        }
        Ok(stdout_line(&out))
    }

    /// Point the remote's ref of `id` at `new` (`None`: delete it), only if it is `expect`
    /// now (`None`: only if it does not exist). `Ok(false)`: the remote refused, the ref is
    /// not what we expected (another clone changed it first).
    pub fn push(&self, id: &str, new: Option<&str>, expect: Option<&str>) -> Result<bool> {
        let refname = format!("{REF_PREFIX}{id}");
        let lease = format!("--force-with-lease={refname}:{}", expect.unwrap_or(""));
        let spec = format!("{}:{refname}", new.unwrap_or(""));
        let args = ["push", "--porcelain", "--no-verify", &lease, &self.name, &spec];
        let out = git(&self.dir, &args, &[])?;
        if out.status.success() {
            return Ok(true);
        }
        // `--porcelain`: one line per ref, `<flag>\t<from>:<to>\t<summary>`; `!` is a
        // rejection (here: the lease did not hold).
        let rejected = String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            l.starts_with('!') && l.split('\t').nth(1).is_some_and(|s| s.ends_with(&refname))
        });
        if rejected { Ok(false) } else { Err(failed(&args, &out)) }
    }
}

/// The remote step of one `claim --remote`: what the remote holds, and the ref this claim
/// won (so that a claim that fails afterwards gives it back).
pub struct Arbiter {
    remote: Remote,
    held: BTreeMap<String, Held>,
    /// The objects this clone's leases hold on this remote, by issue id.
    mine: BTreeMap<String, String>,
    won: Option<(String, String)>,
}

/// What [`Arbiter::try_win`] gets to record.
pub struct Bid<'a> {
    pub id: &'a str,
    pub agent: &'a str,
    pub token: u64,
    pub claimed_at: Timestamp,
    pub expires_at: Timestamp,
    /// Take over a live claim too (`--steal`).
    pub steal: bool,
}

impl Arbiter {
    pub fn new(remote: Remote) -> Arbiter {
        Arbiter { remote, held: BTreeMap::new(), mine: BTreeMap::new(), won: None }
    }

    pub fn remote_name(&self) -> &str {
        self.remote.name()
    }

    /// Fetch the remote's claims; note which of them this clone made (the store's
    /// `remote_refs`), forgetting those the remote no longer has as we made them. Call under
    /// the local-state lock, with the lease store it guards.
    pub fn refresh(&mut self, store: &mut LeaseStore) -> Result<()> {
        self.held = self.remote.fetch()?;
        let name = self.remote.name.clone();
        let ours = store.remote_refs.get(&name).cloned().unwrap_or_default();
        self.mine.clear();
        for (id, object) in ours {
            if self.held.get(&id).is_some_and(|h| h.object == object) {
                self.mine.insert(id, object);
            } else {
                store.set_remote_ref(&name, &id, None);
            }
        }
        Ok(())
    }

    fn is_mine(&self, id: &str, h: &Held) -> bool {
        self.mine.get(id) == Some(&h.object)
    }

    /// The issues another clone (or another claim of this one) holds a live remote claim on.
    pub fn held_elsewhere(&self, now: Timestamp) -> std::collections::BTreeSet<String> {
        self.held
            .iter()
            .filter(|(id, h)| h.live(now) && !self.is_mine(id, h))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The token the remote's claim of `id` records (0: none), so a takeover's token is above.
    pub fn prior_token(&self, id: &str) -> u64 {
        self.held.get(id).and_then(|h| h.record.as_ref()).map_or(0, |r| r.token)
    }

    /// Try to make the claim ref of `bid.id` ours: `Ok(Err(ALREADY_CLAIMED))` when another
    /// clone holds it live (before the push, or by winning the race to it).
    pub fn try_win(&mut self, bid: &Bid) -> Result<std::result::Result<RemoteClaim, Error>> {
        let name = self.remote.name.clone();
        let current = self.held.get(bid.id).cloned();
        if let Some(h) = &current
            && h.live(bid.claimed_at)
            && !self.is_mine(bid.id, h)
            && !bid.steal
        {
            return Ok(Err(h.claimed_error(bid.id, &name)));
        }
        let record = Record::of(bid)?;
        let expect = current.as_ref().map(|h| h.object.as_str());
        let object = self.remote.make_object(&record, expect)?;
        if !self.remote.push(bid.id, Some(&object), expect)? {
            // Lost the race: read the winner.
            self.held = self.remote.fetch()?;
            let err = match self.held.get(bid.id) {
                Some(h) => h.claimed_error(bid.id, &name),
                None => Error::GitFailed {
                    command: format!("push {name} {REF_PREFIX}{}", bid.id),
                    message: "the remote refused the claim ref and then had none".into(),
                },
            };
            return Ok(Err(err));
        }
        self.won = Some((bid.id.to_string(), object.clone()));
        let taken_over_from = current.filter(|h| !self.is_mine(bid.id, h)).map(|h| h.holder());
        Ok(Ok(RemoteClaim {
            remote: name,
            refname: format!("{REF_PREFIX}{}", bid.id),
            object,
            host: record.host,
            lease_expires_at: record.lease_expires_at,
            taken_over_from,
        }))
    }

    /// The lease's record of the ref won.
    pub fn lease(&self) -> Option<RemoteLease> {
        let (_, object) = self.won.as_ref()?;
        Some(RemoteLease { remote: self.remote.name.clone(), object: object.clone() })
    }

    /// Note the ref won in `store`'s `remote_refs`.
    pub fn record_won(&self, store: &mut LeaseStore) {
        if let Some((id, object)) = &self.won {
            store.set_remote_ref(&self.remote.name, id, Some(object.clone()));
        }
    }

    /// The claim failed after the push won: delete the ref again (only while it is still
    /// ours). Best effort: a ref left behind expires with its lease.
    pub fn give_back(&mut self) -> Option<Error> {
        let (id, object) = self.won.take()?;
        self.remote.push(&id, None, Some(&object)).err()
    }
}

/// `renew --remote`: point the claim ref of `bid.id`, while it is still `mine`, at a commit
/// recording the new expiry (its parent `mine`). Another clone's live claim there is
/// `ALREADY_CLAIMED`; a ref gone or taken over after expiry is `LEASE_NOT_HELD`. Call under
/// the local-state lock.
pub fn extend(remote: &Remote, bid: &Bid, mine: &str, now: Timestamp) -> Result<RemoteClaim> {
    let record = Record::of(bid)?;
    let object = remote.make_object(&record, Some(mine))?;
    let not_mine = |held: &BTreeMap<String, Held>| match held.get(bid.id) {
        Some(h) if h.live(now) => h.claimed_error(bid.id, remote.name()),
        _ => Error::LeaseNotHeld {
            id: bid.id.into(),
            reason: format!(
                "its claim ref on {} is gone or was taken over after it expired: claim it again",
                remote.name()
            ),
        },
    };
    let held = remote.fetch()?;
    if held.get(bid.id).map(|h| h.object.as_str()) != Some(mine) {
        return Err(not_mine(&held));
    }
    if !remote.push(bid.id, Some(&object), Some(mine))? {
        return Err(not_mine(&remote.fetch()?));
    }
    Ok(RemoteClaim {
        remote: remote.name().into(),
        refname: format!("{REF_PREFIX}{}", bid.id),
        object,
        host: record.host,
        lease_expires_at: record.lease_expires_at,
        taken_over_from: None,
    })
}

/// 128 random bits in hex.
fn nonce() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::InvalidArgument(format!("no random bits for a claim: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What `release --remote` did on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefRelease {
    /// The ref was ours and is deleted (the object it pointed at, to put back on failure).
    Deleted(String),
    /// There was no ref of the issue.
    Absent,
    /// The ref holds another clone's claim, expired: left for whoever takes it over.
    LeftExpired(String),
}

/// Delete the remote claim ref of `id` if it is `mine` (the one this clone made); refuse
/// (`ALREADY_CLAIMED`) if another clone's live claim holds it. Call under the local-state lock.
pub fn release_ref(
    remote: &Remote,
    id: &str,
    mine: Option<&str>,
    now: Timestamp,
) -> Result<RefRelease> {
    for _ in 0..3 {
        let held = remote.fetch()?;
        let Some(h) = held.get(id) else { return Ok(RefRelease::Absent) };
        if Some(h.object.as_str()) != mine {
            if h.live(now) {
                return Err(h.claimed_error(id, remote.name()));
            }
            return Ok(RefRelease::LeftExpired(h.holder()));
        }
        if remote.push(id, None, Some(&h.object))? {
            return Ok(RefRelease::Deleted(h.object.clone()));
        }
        // Changed since the fetch: look again.
    }
    Err(Error::GitFailed {
        command: format!("push {} :{REF_PREFIX}{id}", remote.name()),
        message: "the claim ref kept changing".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(expires: &str) -> Held {
        let record = Record {
            jit_claim: 1,
            id: "01kjma0fm0qz44c40bzgf4563v".into(),
            agent: "alice".into(),
            token: 3,
            host: "h1".into(),
            claimed_at: "2026-03-01T09:00:00.000000Z".into(),
            lease_expires_at: expires.into(),
            nonce: "00".into(),
        };
        Held { object: "abc".into(), record: Some(record) }
    }

    #[test]
    fn a_claim_ref_lives_until_its_lease_expires_and_an_unreadable_one_forever() {
        let at = |t: &str| crate::model::time::parse(t).unwrap();
        let h = held("2026-03-01T09:30:00.000000Z");
        assert!(h.live(at("2026-03-01T09:29:59Z")));
        assert!(!h.live(at("2026-03-01T09:30:00Z")));
        assert!(held("not a time").live(at("2100-01-01T00:00:00Z")));
        let unreadable = Held { object: "abc".into(), record: None };
        assert!(unreadable.live(at("2100-01-01T00:00:00Z")));
        assert_eq!(unreadable.holder(), "an unreadable claim (commit abc)");
    }

    #[test]
    fn a_lost_race_names_the_winner() {
        let e = held("2026-03-01T09:30:00.000000Z").claimed_error("01kjma", "origin");
        assert_eq!(e.code(), "ALREADY_CLAIMED");
        assert_eq!(
            e.to_string(),
            "issue 01kjma is claimed on remote origin by alice (host h1) until \
             2026-03-01T09:30:00.000000Z"
        );
        let d = e.details();
        assert_eq!((d["host"].as_str(), d["token"].as_u64()), (Some("h1"), Some(3)));
    }

    #[test]
    fn a_record_is_one_line_of_json_that_reads_back() {
        let r = held("2026-03-01T09:30:00.000000Z").record.unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }
}
