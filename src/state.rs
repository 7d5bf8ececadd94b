//! The state directory: where strata keeps its Git cache, the persistent
//! working tree Terraform runs in, the plugin cache and run records.
//!
//! ```text
//! <state>/lock                 held while a run uses the directory
//! <state>/repos/<key>/         Git cache and exported tree (see `source`)
//! <state>/plugin-cache/        TF_PLUGIN_CACHE_DIR shared by all stacks
//! <state>/terraform.rc         CLI config used when the user has none
//! <state>/runs/, audit.log      runs and approval decisions (see `runs`)
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "cannot tell where to keep state: set --state-dir or STRATA_STATE_DIR (neither XDG_STATE_HOME nor HOME is set)"
    )]
    NoDefault,
    #[error("cannot use state directory {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another strata run is using the state directory {} ({holder}); wait for it to finish, or use another --state-dir",
        path.display()
    )]
    Busy { path: PathBuf, holder: String },
}

/// Picks the state directory: the flag or `STRATA_STATE_DIR` (already
/// merged by the caller), else `$XDG_STATE_HOME/strata`, else
/// `$HOME/.local/state/strata`.
///
/// # Errors
/// When none of them is available.
pub fn resolve(
    explicit: Option<&Path>,
    xdg_state_home: Option<&Path>,
    home: Option<&Path>,
) -> Result<PathBuf, StateError> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Some(p) = xdg_state_home.filter(|p| p.is_absolute()) {
        return Ok(p.join("strata"));
    }
    home.map(|h| h.join(".local/state/strata"))
        .ok_or(StateError::NoDefault)
}

/// An opened, exclusively locked state directory. The lock is released
/// when this is dropped (or the process dies: it is an OS file lock, so a
/// killed run never leaves a stale lock behind).
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Creates the directory if needed and takes its lock without waiting.
    ///
    /// # Errors
    /// [`StateError::Busy`] when another run holds it; I/O errors.
    pub fn open(root: &Path, what: &str) -> Result<StateDir, StateError> {
        let io = |source| StateError::Io {
            path: root.to_owned(),
            source,
        };
        // Terraform state and plan files hold secrets in clear text: what
        // strata creates is private to its owner.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io)?;
        let root = root.canonicalize().map_err(io)?;
        let lock_path = root.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StateError::Busy {
                    path: root,
                    holder: if holder.is_empty() {
                        "unknown process".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "pid {} running `strata {what}`", std::process::id()).map_err(io)?;
        let dir = StateDir { root, _lock: file };
        for sub in ["repos", "plugin-cache"] {
            let path = dir.root.join(sub);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(io)?;
        }
        // Also when an older strata (or a user) created it open: the
        // exported trees hold each stack's terraform.tfstate.
        std::fs::set_permissions(
            dir.root.join("repos"),
            std::fs::Permissions::from_mode(0o700),
        )
        .map_err(io)?;
        let rc = dir.cli_config();
        if !rc.exists() {
            std::fs::write(
                &rc,
                "# Terraform CLI configuration used by strata when you have none.\n",
            )
            .map_err(io)?;
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn plugin_cache(&self) -> PathBuf {
        self.root.join("plugin-cache")
    }

    pub fn cli_config(&self) -> PathBuf {
        self.root.join("terraform.rc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_prefers_explicit_then_xdg_then_home() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            resolve(Some(&p("/s")), Some(&p("/x")), Some(&p("/h"))).unwrap(),
            p("/s")
        );
        assert_eq!(
            resolve(None, Some(&p("/x")), Some(&p("/h"))).unwrap(),
            p("/x/strata")
        );
        assert_eq!(
            resolve(None, Some(&p("rel")), Some(&p("/h"))).unwrap(),
            p("/h/.local/state/strata")
        );
        assert!(resolve(None, None, None).is_err());
    }

    #[test]
    fn a_second_opener_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::open(dir.path(), "plan").unwrap();
        let err = StateDir::open(dir.path(), "apply").unwrap_err();
        assert!(err.to_string().contains("running `strata plan`"), "{err}");
        drop(first);
        StateDir::open(dir.path(), "apply").unwrap();
    }

    #[test]
    fn what_holds_terraform_state_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new");
        let state = StateDir::open(&root, "plan").unwrap();
        for path in [state.root().to_owned(), state.root().join("repos")] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        }
    }
}
