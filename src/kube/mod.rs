//! The Kubernetes layer: load a workload's manifests, substitute Terraform
//! outputs, validate them against the cluster, diff them with a server-side
//! dry run, and converge them in waves with server-side apply, an
//! inventory-safe prune and health waits.
//!
//! Data flows one way, as in the rest of strata: [`manifest`] reads files
//! (or `kustomize build`), [`substitute`] fills `${stack.<name>.<output>}`,
//! [`set`] validates and orders the objects, [`diff`] compares them with
//! the live cluster, and [`converge`] writes. Nothing writes before every
//! object of the workload has been loaded, validated and diffed.

pub mod client;
pub mod converge;
pub mod diff;
pub mod document;
pub mod health;
pub mod inventory;
mod kustomize;
pub mod lease;
pub mod manifest;
pub mod ownership;
pub mod set;
pub mod substitute;
pub mod values;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use client::{Cluster, Connect};
pub use manifest::Manifest;
pub use set::{Object, ObjectSet};

/// The label every object strata applies carries: the workload's name.
pub const WORKLOAD_LABEL: &str = "strata.dev/workload";
/// The annotation with the commit that last changed the object.
pub const COMMIT_ANNOTATION: &str = "strata.dev/commit";
/// `"<n>"`: the object's wave, instead of the one its kind gives it.
pub const WAVE_ANNOTATION: &str = "strata.dev/wave";
/// `disabled`: never prune the object.
pub const PRUNE_ANNOTATION: &str = "strata.dev/prune";
/// `allowed`: delete and create the object again when a field cannot be
/// changed in place.
pub const RECREATE_ANNOTATION: &str = "strata.dev/recreate";
/// strata's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "strata";

/// What an object is, independent of its version: the inventory's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    /// API group; empty for the core group.
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    /// `Kind/name` or `Kind/namespace/name`: the address `approval.protect`
    /// patterns match.
    pub fn address(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address())
    }
}

/// Splits `apiVersion` into group and version (`v1` is the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Everything the Kubernetes layer can fail with. Each says what was wrong,
/// where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A manifest that cannot be read, parsed or accepted.
    #[error("{file}{}: {message}", at(.index, .line))]
    Manifest {
        file: String,
        /// 1-based document index in the file.
        index: Option<usize>,
        /// 1-based line in the file, when known.
        line: Option<usize>,
        message: String,
    },
    /// Every problem found while validating a workload.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<KubeError>),
    /// `kustomize build` failed or could not run.
    #[error("rendering the kustomization in {dir}: {message}")]
    Render { dir: String, message: String },
    /// The kubeconfig could not be read or has no usable context.
    #[error("kubeconfig: {message}")]
    Kubeconfig { message: String },
    /// The cluster could not be reached.
    #[error("cannot reach the cluster of context {context:?} at {server}: {message}")]
    Unreachable {
        context: String,
        server: String,
        message: String,
    },
    /// The cluster answered, but refused strata's credentials (401), or
    /// they may not even read the API's version (403).
    #[error(
        "the cluster of context {context:?} at {server} refused strata's credentials: {message}"
    )]
    Refused {
        context: String,
        server: String,
        message: String,
    },
    /// A request about one object failed for good.
    #[error("{object}: {message}")]
    Object { object: String, message: String },
    #[error("interrupted")]
    Interrupted,
}

fn at(index: &Option<usize>, line: &Option<usize>) -> String {
    match (index, line) {
        (Some(index), Some(line)) => format!(":{line} (document {index})"),
        (None, Some(line)) => format!(":{line}"),
        (Some(index), None) => format!(" (document {index})"),
        (None, None) => String::new(),
    }
}

impl KubeError {
    pub(crate) fn manifest(file: &str, index: Option<usize>, message: impl Into<String>) -> Self {
        KubeError::Manifest {
            file: file.to_owned(),
            index,
            line: None,
            message: message.into(),
        }
    }
}
