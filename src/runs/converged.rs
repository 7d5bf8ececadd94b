//! What each stack and workload last converged with: the fingerprint of
//! its inputs when an `apply` (or `watch`) left it applied or in sync,
//! and the commit and run that did. Changed-only runs (`--changed`)
//! compare against it.
//!
//! ```text
//! <state>/converged/stacks/<name>.json
//! <state>/converged/workloads/<name>.json
//! ```
//!
//! A record is written only after its stack or workload converged, and
//! atomically: a crash before that leaves the older record, so the next
//! changed-only run plans it again rather than skip it.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{RunError, io, write_json};

/// Whether a record is of a stack or a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Stack,
    Workload,
}

impl Layer {
    fn dir(self) -> &'static str {
        match self {
            Layer::Stack => "stacks",
            Layer::Workload => "workloads",
        }
    }
}

/// One stack's or workload's last convergence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Converged {
    /// The fingerprint of its inputs (see `ops::changed`).
    pub inputs: String,
    /// The commit it was converged from; `None` for a working tree
    /// without commits.
    pub commit: Option<String>,
    /// The run that converged it.
    pub run: String,
    pub at: Timestamp,
}

impl Converged {
    /// `unchanged since 1a2b3c4d (run …)`: why a changed-only run skips it.
    pub fn reason(&self) -> String {
        let commit = self
            .commit
            .as_deref()
            .map_or("the working tree", |c| &c[..c.len().min(12)]);
        format!("unchanged since {commit} (run {})", self.run)
    }
}

/// The records of one state directory.
#[derive(Debug, Clone)]
pub struct ConvergedStore {
    dir: PathBuf,
}

impl ConvergedStore {
    pub fn at(state_root: &Path) -> ConvergedStore {
        ConvergedStore {
            dir: state_root.join("converged"),
        }
    }

    fn path(&self, layer: Layer, name: &str) -> PathBuf {
        self.dir.join(layer.dir()).join(format!("{name}.json"))
    }

    /// The last convergence of `name`; `None` when there is none, or when
    /// the record cannot be read (then it is planned, which is safe).
    pub fn get(&self, layer: Layer, name: &str) -> Option<Converged> {
        let bytes = fs::read(self.path(layer, name)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records that `name` converged with `record`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put(&self, layer: Layer, name: &str, record: &Converged) -> Result<(), RunError> {
        let path = self.path(layer, name);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io("create", parent))?;
        }
        write_json(&path, record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_damaged_one_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConvergedStore::at(dir.path());
        assert_eq!(store.get(Layer::Stack, "net"), None);
        let record = Converged {
            inputs: "ab".repeat(32),
            commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
            run: "20261206-080000-0a0b".to_owned(),
            at: Timestamp::UNIX_EPOCH,
        };
        store.put(Layer::Stack, "net", &record).unwrap();
        assert_eq!(store.get(Layer::Stack, "net"), Some(record.clone()));
        assert_eq!(store.get(Layer::Workload, "net"), None);
        assert_eq!(
            record.reason(),
            "unchanged since 0123456789ab (run 20261206-080000-0a0b)"
        );
        fs::write(dir.path().join("converged/stacks/net.json"), "{").unwrap();
        assert_eq!(store.get(Layer::Stack, "net"), None);
    }
}
