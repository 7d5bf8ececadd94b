//! Turn `--ref` into a commit in the cache.
//!
//! Lookup order: `HEAD` (or no ref) → the source's `HEAD`; a full ref name (`refs/...`); a branch; a tag
//! (annotated tags peeled to their commit); a full commit id; a short commit id of at least 4 hex digits.
//! Names win over ids, as in Git, so a branch called `cafe` is not mistaken for a commit.

use std::collections::{BTreeSet, HashSet};

use gix::ObjectId;
use gix::bstr::ByteSlice;

use super::SourceError;
use super::fetch::RemoteHead;

/// How many branches and tags an "unknown ref" error lists, each.
const KNOWN_LIMIT: usize = 5;

pub(super) struct Resolved {
    /// What was asked for, or the branch `HEAD` pointed to, or `HEAD` when detached.
    pub reference: String,
    pub commit: ObjectId,
}

pub(super) fn resolve(
    repo: &gix::Repository,
    reference: Option<&str>,
    head: &RemoteHead,
    display: &str,
) -> Result<Resolved, SourceError> {
    let read_error = |what: String| {
        move |source| SourceError::Read {
            what,
            repo: display.to_owned(),
            source,
        }
    };
    let asked = match reference {
        None | Some("HEAD") => return resolve_head(repo, head, display),
        Some(asked) => asked,
    };

    for candidate in candidate_ref_names(asked) {
        let found = repo
            .try_find_reference(&candidate)
            .map_err(read_error(format!("ref {}", candidate.as_bstr())))?;
        if let Some(mut found) = found {
            let id = found
                .peel_to_id()
                .map_err(read_error(format!("ref {}", candidate.as_bstr())))?;
            return Ok(Resolved {
                reference: asked.to_owned(),
                commit: peel_to_commit(repo, id.detach(), asked, display)?,
            });
        }
    }

    if let Some(id) = commit_by_id(repo, asked, display)? {
        return Ok(Resolved {
            reference: asked.to_owned(),
            commit: id,
        });
    }
    Err(SourceError::UnknownRef {
        reference: asked.to_owned(),
        repo: display.to_owned(),
        known: known_refs(repo),
    })
}

fn resolve_head(
    repo: &gix::Repository,
    head: &RemoteHead,
    display: &str,
) -> Result<Resolved, SourceError> {
    let no_default = |why: String| SourceError::NoDefaultBranch {
        repo: display.to_owned(),
        why,
    };
    match head {
        RemoteHead::Branch(branch) => {
            let name = format!("refs/heads/{branch}");
            let mut found =
                repo.find_reference(name.as_str())
                    .map_err(|source| SourceError::Read {
                        what: format!("branch {branch}, which HEAD points to,"),
                        repo: display.to_owned(),
                        source,
                    })?;
            let id = found.peel_to_id().map_err(|source| SourceError::Read {
                what: format!("branch {branch}"),
                repo: display.to_owned(),
                source,
            })?;
            Ok(Resolved {
                reference: branch.clone(),
                commit: peel_to_commit(repo, id.detach(), "HEAD", display)?,
            })
        }
        RemoteHead::Detached(id) => Ok(Resolved {
            reference: "HEAD".to_owned(),
            commit: peel_to_commit(repo, *id, "HEAD", display)?,
        }),
        RemoteHead::Unborn(branch) => Err(no_default(format!(
            "it points to branch \"{branch}\", which has no commits yet"
        ))),
        RemoteHead::Missing => Err(no_default("the repository does not advertise HEAD".into())),
    }
}

/// Full ref names to try for `asked`, skipping spellings that are not valid ref names at all.
fn candidate_ref_names(asked: &str) -> Vec<gix::refs::FullName> {
    let spellings = if asked.starts_with("refs/") {
        vec![asked.to_owned()]
    } else {
        vec![format!("refs/heads/{asked}"), format!("refs/tags/{asked}")]
    };
    spellings
        .into_iter()
        .filter_map(|s| gix::refs::FullName::try_from(s).ok())
        .collect()
}

/// Follow tags until a commit; anything else (a tag of a tree, say) is the user's mistake to hear about.
fn peel_to_commit(
    repo: &gix::Repository,
    id: ObjectId,
    asked: &str,
    display: &str,
) -> Result<ObjectId, SourceError> {
    let read_error = |source| SourceError::Read {
        what: format!("object {id}"),
        repo: display.to_owned(),
        source,
    };
    let object = repo
        .find_object(id)
        .and_then(|o| o.peel_tags_to_end())
        .map_err(read_error)?;
    if object.kind == gix::object::Kind::Commit {
        Ok(object.id)
    } else {
        Err(SourceError::NotACommit {
            reference: asked.to_owned(),
            repo: display.to_owned(),
            kind: object.kind.to_string(),
        })
    }
}

/// A full or unambiguous short commit id, `None` if `asked` is no id of a commit in the cache.
fn commit_by_id(
    repo: &gix::Repository,
    asked: &str,
    display: &str,
) -> Result<Option<ObjectId>, SourceError> {
    let hex = asked.to_ascii_lowercase();
    let full_len = repo.object_hash().len_in_hex();
    if hex.len() < 4 || hex.len() > full_len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let read_error = |source| SourceError::Read {
        what: format!("objects matching {asked}"),
        repo: display.to_owned(),
        source,
    };
    let mut candidates = HashSet::new();
    if hex.len() == full_len {
        let id = ObjectId::from_hex(hex.as_bytes()).map_err(read_error)?;
        if repo.has_object(id) {
            candidates.insert(id);
        }
    } else {
        let prefix = gix::hash::Prefix::from_hex(&hex).map_err(read_error)?;
        repo.objects
            .lookup_prefix(prefix, Some(&mut candidates))
            .map_err(read_error)?;
    }

    // Like Git, a short id in a commit context only considers objects that are (or peel to) commits, so a
    // blob that happens to share the prefix does not make it ambiguous.
    let mut commits = BTreeSet::new();
    for id in candidates {
        let object = repo
            .find_object(id)
            .and_then(|o| o.peel_tags_to_end())
            .map_err(read_error)?;
        if object.kind == gix::object::Kind::Commit {
            commits.insert(object.id);
        }
    }
    let mut commits = commits.into_iter();
    match (commits.next(), commits.next()) {
        (None, _) => Ok(None),
        (Some(id), None) => Ok(Some(id)),
        (Some(first), Some(second)) => {
            let candidates = [first, second]
                .into_iter()
                .chain(commits)
                .map(|id| describe(repo, id))
                .collect();
            Err(SourceError::AmbiguousRef {
                reference: asked.to_owned(),
                repo: display.to_owned(),
                candidates,
            })
        }
    }
}

/// `<12-hex id> (<first line of the message>)`, to help pick the right one.
fn describe(repo: &gix::Repository, id: ObjectId) -> String {
    let summary = repo
        .find_commit(id)
        .ok()
        .and_then(|c| {
            c.message()
                .ok()
                .map(|m| m.summary().to_str_lossy().into_owned())
        })
        .unwrap_or_default();
    format!("{} ({summary})", id.to_hex_with_len(12))
}

/// "; branches: a, b; tags: v1" — what the user could have meant. Best effort: a listing failure yields less.
fn known_refs(repo: &gix::Repository) -> String {
    let Ok(platform) = repo.references() else {
        return String::new();
    };
    let mut out = String::new();
    for (label, prefix) in [("branches", "refs/heads/"), ("tags", "refs/tags/")] {
        let Ok(iter) = platform.prefixed(prefix) else {
            continue;
        };
        let names: Vec<String> = iter
            .filter_map(Result::ok)
            .map(|r| r.name().shorten().to_str_lossy().into_owned())
            .collect();
        if names.is_empty() {
            continue;
        }
        let mut listed = names[..names.len().min(KNOWN_LIMIT)].join(", ");
        if names.len() > KNOWN_LIMIT {
            listed.push_str(&format!(" and {} more", names.len() - KNOWN_LIMIT));
        }
        out.push_str(&format!("; {label}: {listed}"));
    }
    out
}
