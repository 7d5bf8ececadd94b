//! The bare cache: clone on the first run, fetch incrementally afterwards, for local paths and URLs alike.
//!
//! The remote is anonymous (built from the URL on every run rather than stored in the cache's config), so a
//! changed spelling of the same URL, or new credentials in it, take effect immediately.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::bstr::{BStr, ByteSlice};
use gix::protocol::handshake::Ref;
use gix::remote::Direction;

use super::SourceError;
use super::location::Source;

/// Branches and tags mirror the source one to one; `+` because branches may be force-pushed and tags moved.
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// What the source's `HEAD` pointed to at the time of the fetch.
pub(super) enum RemoteHead {
    /// `HEAD` is a branch; its short name.
    Branch(String),
    /// `HEAD` is detached at this object.
    Detached(gix::ObjectId),
    /// `HEAD` points to a branch without commits; its short name.
    Unborn(String),
    /// The source did not advertise `HEAD` at all.
    Missing,
}

pub(super) struct Fetched {
    pub cache: gix::Repository,
    pub head: RemoteHead,
}

/// Bring the cache at `cache_dir` up to date with `source`.
pub(super) fn update_cache(
    cache_dir: &Path,
    source: &Source,
    should_interrupt: &AtomicBool,
) -> Result<Fetched, SourceError> {
    let cache = open_or_init(cache_dir)?;
    let fetch_error = |source_err: gix::Error| {
        if should_interrupt.load(Ordering::Relaxed) {
            SourceError::Interrupted {
                repo: source.display.clone(),
            }
        } else {
            SourceError::Fetch {
                repo: source.display.clone(),
                hint: if source.is_local() {
                    "local repositories are read with `git upload-pack`, so git must be on PATH and the repository readable"
                } else {
                    "check the URL, network access and credentials"
                },
                source: source_err,
            }
        }
    };

    let remote = cache
        .remote_at(source.url.clone())
        .and_then(|remote| remote.with_refspecs(REFSPECS, Direction::Fetch))
        .map_err(fetch_error)?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    // `HEAD` is fetched without a destination: its objects arrive and the handshake tells us what it points to.
    let head_spec = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)
        .map_err(fetch_error)?
        .to_owned();
    let prepared = remote
        .connect(Direction::Fetch)
        .map_err(fetch_error)?
        .prepare_fetch(
            gix::progress::Discard,
            gix::remote::ref_map::Options {
                extra_refspecs: vec![head_spec],
                ..Default::default()
            },
        )
        .map_err(fetch_error)?;

    let remote_refs = &prepared.ref_map().remote_refs;
    let head = remote_head(remote_refs);
    let has_commits = matches!(head, RemoteHead::Branch(_) | RemoteHead::Detached(_))
        || remote_refs
            .iter()
            .any(|r| !matches!(r, Ref::Unborn { .. }) && is_mirrored(name_of(r)));
    if !has_commits {
        return Err(SourceError::EmptyRepository {
            repo: source.display.clone(),
        });
    }

    let outcome = prepared
        .receive(gix::progress::Discard, should_interrupt)
        .map_err(fetch_error)?;
    match &outcome.status {
        gix::remote::fetch::Status::NoPackReceived { .. } => {
            tracing::debug!(repo = %source.display, "cache already up to date");
        }
        gix::remote::fetch::Status::Change {
            write_pack_bundle, ..
        } => {
            tracing::debug!(repo = %source.display, objects = write_pack_bundle.index.num_objects, "fetched new objects");
        }
    }
    prune(&cache, &outcome.ref_map.remote_refs, &source.display)?;
    Ok(Fetched { cache, head })
}

/// Open the cache, or create it; a cache that cannot be opened (say, a first clone that was killed before
/// it wrote anything useful) is rebuilt, since it only ever holds what the source can send again.
fn open_or_init(cache_dir: &Path) -> Result<gix::Repository, SourceError> {
    if cache_dir.exists() {
        match gix::open(cache_dir) {
            Ok(repo) if repo.is_bare() => return Ok(repo),
            Ok(_) => {
                tracing::warn!(cache = %cache_dir.display(), "cache is not a bare repository; rebuilding it")
            }
            Err(err) => {
                tracing::warn!(cache = %cache_dir.display(), error = %err, "cache cannot be opened; rebuilding it")
            }
        }
        std::fs::remove_dir_all(cache_dir).map_err(|source| SourceError::Io {
            action: "remove the broken cache",
            path: cache_dir.to_owned(),
            source,
        })?;
    }
    if let Some(parent) = cache_dir.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SourceError::Io {
            action: "create the state directory",
            path: parent.to_owned(),
            source,
        })?;
    }
    tracing::debug!(cache = %cache_dir.display(), "creating cache");
    gix::init_bare(cache_dir).map_err(|source| SourceError::Cache {
        path: cache_dir.to_owned(),
        source,
    })
}

fn remote_head(remote_refs: &[Ref]) -> RemoteHead {
    let Some(head) = remote_refs.iter().find(|r| name_of(r) == "HEAD") else {
        return RemoteHead::Missing;
    };
    match head {
        Ref::Symbolic { target, object, .. } => match target.strip_prefix(b"refs/heads/") {
            Some(branch) => RemoteHead::Branch(branch.to_str_lossy().into_owned()),
            None => RemoteHead::Detached(*object),
        },
        Ref::Direct { object, .. } | Ref::Peeled { object, .. } => RemoteHead::Detached(*object),
        Ref::Unborn { target, .. } => RemoteHead::Unborn(
            target
                .strip_prefix(b"refs/heads/")
                .unwrap_or(target)
                .to_str_lossy()
                .into_owned(),
        ),
    }
}

fn name_of(r: &Ref) -> &BStr {
    match r {
        Ref::Peeled { full_ref_name, .. }
        | Ref::Direct { full_ref_name, .. }
        | Ref::Symbolic { full_ref_name, .. }
        | Ref::Unborn { full_ref_name, .. } => full_ref_name.as_bstr(),
    }
}

fn is_mirrored(name: &BStr) -> bool {
    name.starts_with(b"refs/heads/") || name.starts_with(b"refs/tags/")
}

/// Delete cached branches and tags that are gone at the source, so a deleted branch is not silently served
/// from the cache (the fetch itself only adds and updates).
fn prune(cache: &gix::Repository, remote_refs: &[Ref], display: &str) -> Result<(), SourceError> {
    let at_source: HashSet<&BStr> = remote_refs.iter().map(name_of).collect();
    let read_error = |source| SourceError::Read {
        what: "the cached refs".into(),
        repo: display.to_owned(),
        source,
    };
    let mut stale = Vec::new();
    let platform = cache.references().map_err(read_error)?;
    for prefix in ["refs/heads/", "refs/tags/"] {
        for reference in platform.prefixed(prefix).map_err(read_error)? {
            let reference = reference.map_err(read_error)?;
            if !at_source.contains(reference.name().as_bstr()) {
                stale.push(reference);
            }
        }
    }
    for reference in stale {
        tracing::debug!(reference = %reference.name().as_bstr(), "pruning ref deleted at the source");
        reference.delete().map_err(|source| SourceError::Cache {
            path: cache.git_dir().to_owned(),
            source,
        })?;
    }
    Ok(())
}
