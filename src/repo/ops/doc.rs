//! `doc add` and `doc rm`: the documents of an issue (files of the project it refers to).
//! A path is checked to stay inside the project before anything is staged: it is stored
//! relative to the project directory, and `doc add` wants the file to exist (`validate`
//! reports documents that have gone since).

use super::Transaction;
use crate::api::{DocAdd, DocRm};
use crate::error::{Error, Result};
use crate::model::{Document, Issue};
use crate::storage::documents::{self, DocState};

/// The stored form of a request's path (relative to the project, or absolute inside it).
fn stored_path(tx: &Transaction, path: &str) -> Result<String> {
    let project = tx.repo().layout().project();
    documents::normalize(project, project, path)
        .map_err(|reason| Error::DocumentPath { path: path.to_string(), reason })
}

pub fn add(tx: &mut Transaction, req: &DocAdd) -> Result<Issue> {
    let id = tx.resolve(&req.id)?;
    let path = stored_path(tx, &req.path)?;
    if let Some(l) = &req.label
        && (l.trim().is_empty() || l.len() > 128 || l.chars().any(crate::model::is_layout_char))
    {
        return Err(Error::InvalidArgument(format!(
            "the document label `{l}` must be 1 to 128 bytes, on one line"
        )));
    }
    match documents::state(tx.repo().layout().project(), &path) {
        DocState::Present => {}
        DocState::Missing => {
            return Err(Error::DocumentPath { path, reason: "no such file in the project".into() });
        }
        DocState::Outside(reason) => return Err(Error::DocumentPath { path, reason }),
    }
    let mut issue = tx.load(id)?.clone();
    let doc = Document { path, label: req.label.clone() };
    match issue.documents.iter_mut().find(|d| d.path == doc.path) {
        Some(d) if req.label.is_some() => *d = doc,
        Some(_) => {}
        None => issue.documents.push(doc),
    }
    Ok(tx.stage(issue)?.clone())
}

pub fn rm(tx: &mut Transaction, req: &DocRm) -> Result<Issue> {
    let id = tx.resolve(&req.id)?;
    let mut issue = tx.load(id)?.clone();
    // As stored (a path that no longer normalises, from a hand edit, too), else normalised.
    let path = if issue.documents.iter().any(|d| d.path == req.path) {
        req.path.clone()
    } else {
        stored_path(tx, &req.path)?
    };
    let before = issue.documents.len();
    issue.documents.retain(|d| d.path != path);
    if issue.documents.len() == before {
        return Err(Error::DocumentNotFound { id: id.to_string(), path });
    }
    Ok(tx.stage(issue)?.clone())
}
