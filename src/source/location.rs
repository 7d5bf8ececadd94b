//! Where the source lives: a local repository or a remote URL, and which state-directory slot it owns.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gix::bstr::{BStr, ByteSlice};

use super::SourceError;

/// A parsed `--repo`.
pub(super) struct Source {
    /// The repository as the user gave it, password redacted; used in messages and the snapshot.
    pub display: String,
    /// What the cache fetches from. For local repositories this is the canonical path.
    pub url: gix::Url,
    /// The opened local repository, `None` for remote URLs.
    local: Option<gix::Repository>,
    /// The canonical form the slot name is derived from.
    key: String,
    /// A readable name for the slot directory.
    slug: String,
    /// The project's directory relative to the repository root, if not the root.
    subdir: Option<PathBuf>,
}

impl Source {
    pub fn parse(repo: &str) -> Result<Self, SourceError> {
        let parsed = gix::url::parse(repo.as_bytes().as_bstr());
        match parsed {
            Ok(url) if url.scheme != gix::url::Scheme::File => Ok(Self::remote(repo, url)),
            Ok(url) => Self::local(repo, PathBuf::from(OsStr::from_bytes(&url.path))),
            // Whatever is on disk under that name is a local path, however odd its spelling.
            Err(_) if Path::new(repo).exists() => Self::local(repo, PathBuf::from(repo)),
            Err(source) => Err(SourceError::InvalidUrl {
                repo: repo.to_owned(),
                source,
            }),
        }
    }

    fn remote(repo: &str, url: gix::Url) -> Self {
        // Display redacts the password; the raw string is kept otherwise because it is what the user typed.
        let display = if url.password().is_some() {
            url.to_string()
        } else {
            repo.to_owned()
        };
        let path = url.path.to_str_lossy();
        let path = path.trim_matches('/');
        let path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        let port = url.port.map(|p| format!(":{p}")).unwrap_or_default();
        // The user is left out: `git@host:a/b` and `ssh://me@host/a/b` are the same repository.
        let key = format!(
            "{}://{}{}/{}",
            url.scheme.as_str(),
            url.host().unwrap_or_default(),
            port,
            path
        );
        let slug = slug_of(path.rsplit('/').next().unwrap_or_default());
        Source {
            display,
            url,
            local: None,
            key,
            slug,
            subdir: None,
        }
    }

    fn local(repo: &str, path: PathBuf) -> Result<Self, SourceError> {
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(SourceError::PathNotFound { path });
        }
        // A directory inside a repository's working tree names a project
        // within it (like Argo CD's `path`): the repository is the one
        // around it, and the snapshot's root is that subdirectory.
        let (opened, subdir) = match gix::open(&path) {
            Ok(opened) => (opened, None),
            Err(source) => match gix::discover(&path) {
                Ok(parent) if parent.workdir().is_some() => {
                    let subdir = subdir_of(&parent, &path)?;
                    (parent, subdir)
                }
                _ => {
                    return Err(SourceError::NotARepository {
                        path,
                        hint: "pass a directory of a git repository's working tree, or a URL"
                            .to_owned(),
                        source,
                    });
                }
            },
        };
        let root = opened.workdir().unwrap_or(opened.git_dir());
        let canonical = std::fs::canonicalize(root).map_err(|source| SourceError::Io {
            action: "resolve the repository path",
            path: root.to_owned(),
            source,
        })?;
        let url =
            gix::Url::try_from(canonical.as_path()).map_err(|source| SourceError::InvalidUrl {
                repo: repo.to_owned(),
                source,
            })?;
        let name = canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.strip_suffix(".git").unwrap_or(&name);
        Ok(Source {
            display: repo.to_owned(),
            url,
            local: Some(opened),
            key: format!("file://{}", canonical.display()),
            slug: slug_of(name),
            subdir,
        })
    }

    /// The project directory inside the repository, when `--repo` named a
    /// subdirectory of a working tree.
    pub fn subdir(&self) -> Option<&Path> {
        self.subdir.as_deref()
    }

    /// What to pass as `repo` to check this source out again from any
    /// directory: the canonical local path (with the project subdirectory),
    /// or the URL as given.
    pub fn spec(&self) -> String {
        match self.key.strip_prefix("file://") {
            Some(path) if self.local.is_some() => match &self.subdir {
                Some(sub) => Path::new(path).join(sub).display().to_string(),
                None => path.to_owned(),
            },
            _ => self.display.clone(),
        }
    }

    /// The local repository, if `repo` named one.
    pub fn local_repo(&self) -> Option<&gix::Repository> {
        self.local.as_ref()
    }

    /// Whether fetching spawns `git upload-pack` locally, for error hints.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// `<state_dir>/repos/<slug>-<hash>`.
    pub fn slot(&self, state_dir: &Path) -> PathBuf {
        state_dir.join("repos").join(format!(
            "{}-{:012x}",
            self.slug,
            fnv1a(self.key.as_bytes()) >> 16
        ))
    }
}

/// `path` relative to the working tree of `repo` (which was discovered from it).
fn subdir_of(repo: &gix::Repository, path: &Path) -> Result<Option<PathBuf>, SourceError> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| SourceError::Io {
            action: "resolve the repository path",
            path: p.to_owned(),
            source,
        })
    };
    let workdir = canonical(repo.workdir().unwrap_or(repo.git_dir()))?;
    let path = canonical(path)?;
    Ok(path
        .strip_prefix(&workdir)
        .ok()
        .filter(|sub| !sub.as_os_str().is_empty())
        .map(Path::to_owned))
}

/// Keep the slot name portable and readable: the repository's name, reduced to safe characters.
fn slug_of(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let slug = slug.trim_start_matches('.');
    if slug.is_empty() {
        "repo".to_owned()
    } else {
        slug.to_owned()
    }
}

/// FNV-1a (64 bit): stable across Rust versions and platforms, unlike `DefaultHasher`, which matters
/// because the hash names a directory that must be found again by the next release.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Render a path from a tree or the working tree for messages.
pub(super) fn show(path: &BStr) -> String {
    path.to_str_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_keys_ignore_user_and_dot_git_suffix() {
        let a = Source::parse("git@github.com:acme/infra.git").unwrap();
        let b = Source::parse("ssh://me@github.com/acme/infra").unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(a.slug, "infra");
        let https = Source::parse("https://github.com/acme/infra.git").unwrap();
        assert_ne!(
            a.key, https.key,
            "different transports are different caches"
        );
        assert_eq!(
            https.slot(Path::new("/s")).parent().unwrap(),
            Path::new("/s/repos")
        );
    }

    #[test]
    fn passwords_are_redacted_for_display() {
        let s = Source::parse("https://bot:s3cret@example.com/acme/infra.git").unwrap();
        assert!(!s.display.contains("s3cret"), "{}", s.display);
    }

    #[test]
    fn slugs_are_safe() {
        assert_eq!(slug_of("my repo/..x"), "my_repo_..x");
        assert_eq!(slug_of(".."), "repo");
        assert_eq!(slug_of(""), "repo");
    }
}
