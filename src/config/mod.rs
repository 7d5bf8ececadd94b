//! Configuration: what strata converges, read from the repository snapshot.
//!
//! Start with [`load`]: it reads `strata.hcl` from the snapshot root when
//! there is one ([`parse_str`]) and otherwise derives the configuration from
//! the conventional layout ([`discover`]). Either way the result is a
//! validated [`Config`]: names are valid and unique, every path exists in the
//! commit, dependencies resolve and have no cycle. [`Config::layers`] gives
//! the order to work in, [`Config::dependents`] what to skip after a failure,
//! and [`render`] writes a `strata.hcl` for `strata init`.
//!
//! Every user-caused [`ConfigError`] names `file:line:column`, what is wrong
//! and what to do.
//!
//! Module map: `model` the types, `error` the errors, `parse` the HCL (structure and types),
//! `validate` the checks against the tree and the dependency graph, `graph`
//! the ordering, `discover` the layout, `render` the text for `strata init`.

// ConfigError is ~150 bytes because every variant carries its location and
// context. Errors here happen at most once per run, on a cold path, and plain
// variants keep them easy to match on, so boxing would buy nothing.
#![allow(clippy::result_large_err, reason = "cold path; see comment above")]

use std::path::Path;

mod discover;
mod duration;
mod error;
mod graph;
mod literal;
mod model;
mod names;
mod parse;
mod path;
pub mod refs;
mod render;
mod validate;

pub use discover::discover;
pub use error::{ConfigError, Location};
pub use model::{
    Approval, Config, DEFAULT_LOCK_TIMEOUT, DEFAULT_WORKLOAD_TIMEOUT, Destructive, Node, Notify,
    NotifyEvent, ObjectRef, Origin, Outputs, Policy, PolicyInput, Stack, TerraformSettings,
    Webhook, Workload,
};
pub(crate) use parse::{MAX_NESTING, too_deep};
pub use render::render;

/// Reads a duration as `strata.hcl` spells it (`"30s"`, `"5m"`, `"1h30m"`);
/// the command line uses the same form.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    duration::parse(text)
}

/// The shortest spelling of `duration` that [`parse_duration`] reads back.
pub fn format_duration(duration: std::time::Duration) -> String {
    duration::format(duration)
}

/// The configuration file at the repository root.
pub const FILE_NAME: &str = "strata.hcl";

/// Loads the configuration of the snapshot at `root`: `root/strata.hcl` when
/// present, else the discovered layout.
///
/// # Errors
///
/// [`ConfigError::Read`] when `strata.hcl` exists but cannot be read, and
/// whatever [`parse_str`] or [`discover`] report.
pub fn load(root: &Path) -> Result<Config, ConfigError> {
    let file = root.join(FILE_NAME);
    // symlink_metadata: a strata.hcl that is a broken symlink or a directory
    // is a mistake to report, not a reason to fall back to discovery.
    if std::fs::symlink_metadata(&file).is_err() {
        return discover(root);
    }
    let read_error = |source| ConfigError::Read {
        path: file.clone(),
        source,
    };
    // The snapshot comes from someone else's commit: a strata.hcl symlinked
    // to a file outside it must not be read.
    let inside = match (file.canonicalize(), root.canonicalize()) {
        (Ok(file), Ok(root)) => file.starts_with(root),
        _ => true,
    };
    if !inside {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "it is a symlink to a file outside the repository",
        )));
    }
    let bytes = std::fs::read(&file).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::NotText {
        offset: e.utf8_error().valid_up_to(),
    })?;
    parse_str(&text, root)
}

/// Parses and validates `text` as `strata.hcl`, checking paths against the
/// snapshot at `root`. Locations in errors name [`FILE_NAME`].
///
/// # Errors
///
/// Any user-caused [`ConfigError`] with its location; the first one found.
pub fn parse_str(text: &str, root: &Path) -> Result<Config, ConfigError> {
    let (config, positions) = parse::parse(text)?;
    validate::validate(&config, &positions, root)?;
    Ok(config)
}

/// A configuration parsed in a fresh directory holding `files` (path and
/// text; a stack needs a `.tf` file, a workload its directory), for tests.
#[cfg(test)]
pub(crate) fn parse_in_tempdir(hcl: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let config = parse_str(hcl, dir.path()).expect("a valid configuration");
    (dir, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete example of docs/configuration.md.
    pub(crate) const DOCS_EXAMPLE: &str = r#"terraform {
  binary      = "terraform"   # default: first of terraform, tofu on PATH
  parallelism = 4             # stacks planned at once
}

stack "network" {
  path      = "infra/network"
  var_files = ["prod.tfvars"]
  vars      = { region = "eu-west-1" }
}

stack "database" {
  path       = "infra/database"
  depends_on = ["network"]
}

workload "apps" {
  path       = "k8s/apps"
  namespace  = "apps"          # default namespace for namespaced objects
  depends_on = ["database"]     # stacks or workloads
  prune      = true
  wait       = true
  timeout    = "5m"
}

outputs "database" {            # Terraform outputs -> Kubernetes
  config_map = "apps/database-outputs"    # non-sensitive outputs
  secret     = "apps/database-secrets"    # sensitive outputs
}

approval {
  destructive = "prompt"       # prompt | deny | allow
  protect     = ["module.db.*", "Namespace/*"]   # any change here needs approval
}

notify "ops" {
  webhook = "https://hooks.example.com/T000"     # or env:STRATA_WEBHOOK
  on      = ["drift", "converged", "failed", "approval_required"]
}
"#;

    /// Files the design example refers to.
    pub(crate) const DOCS_TREE: &[&str] = &[
        "infra/network/main.tf",
        "infra/network/prod.tfvars",
        "infra/database/main.tf",
        "k8s/apps/kustomization.yaml",
    ];

    /// A temporary repository snapshot holding `files` (each with a line of content).
    pub(crate) fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in files {
            let path = dir.path().join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, "# test\n").expect("write");
        }
        dir
    }

    /// `config` with origin and line numbers cleared, for comparing a
    /// configuration with its rendered-and-parsed copy.
    pub(crate) fn without_positions(mut config: Config) -> Config {
        config.origin = Origin::File;
        config.stacks.iter_mut().for_each(|s| s.line = 0);
        config.workloads.iter_mut().for_each(|w| w.line = 0);
        config.outputs.iter_mut().for_each(|o| o.line = 0);
        config.notify.iter_mut().for_each(|n| n.line = 0);
        config
    }

    pub(crate) fn empty_config() -> Config {
        Config {
            origin: Origin::File,
            terraform: TerraformSettings::default(),
            stacks: Vec::new(),
            workloads: Vec::new(),
            outputs: Vec::new(),
            approval: Approval::default(),
            notify: Vec::new(),
            policies: Vec::new(),
        }
    }

    #[test]
    fn load_reads_strata_hcl() {
        let root = tree(DOCS_TREE);
        std::fs::write(root.path().join(FILE_NAME), DOCS_EXAMPLE).expect("write");
        let config = load(root.path()).expect("loads");
        assert_eq!(config.origin, Origin::File);
        assert_eq!(config.stacks.len(), 2);
        assert_eq!(config.stack("database").map(|s| s.line), Some(12));
        assert_eq!(
            config.workload("apps").map(|w| w.path.as_str()),
            Some("k8s/apps")
        );
        assert!(config.stack("apps").is_none());
        assert_eq!(
            config.layers(),
            vec![
                vec![Node::Stack("network".into())],
                vec![Node::Stack("database".into())],
                vec![Node::Workload("apps".into())],
            ]
        );
        assert_eq!(
            config.dependents(&Node::Stack("network".into())),
            vec![
                Node::Stack("database".into()),
                Node::Workload("apps".into())
            ]
        );
    }

    #[test]
    fn load_falls_back_to_discovery() {
        let root = tree(DOCS_TREE);
        let config = load(root.path()).expect("discovers");
        assert_eq!(config.origin, Origin::Discovered);
        assert_eq!(config.stacks.len(), 2);
    }

    #[test]
    fn load_reports_an_unreadable_file() {
        let root = tree(DOCS_TREE);
        std::fs::create_dir(root.path().join(FILE_NAME)).expect("mkdir");
        assert!(matches!(load(root.path()), Err(ConfigError::Read { .. })));
        let root = tree(DOCS_TREE);
        std::fs::write(root.path().join(FILE_NAME), [0xff, 0xfe]).expect("write");
        assert!(matches!(
            load(root.path()),
            Err(ConfigError::NotText { offset: 0 })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_a_strata_hcl_outside_the_repository() {
        let outside = tree(&["strata.hcl"]);
        let root = tree(DOCS_TREE);
        std::os::unix::fs::symlink(outside.path().join(FILE_NAME), root.path().join(FILE_NAME))
            .expect("symlink");
        let err = load(root.path()).expect_err("outside");
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn errors_from_load_carry_their_location() {
        let root = tree(DOCS_TREE);
        std::fs::write(
            root.path().join(FILE_NAME),
            "stack \"network\" {\n  path = \"infra/nets\"\n}\n",
        )
        .expect("write");
        let err = load(root.path()).expect_err("missing path");
        let at = err.location().expect("location");
        assert_eq!(
            (at.file.as_str(), at.line, at.column),
            ("strata.hcl", 2, Some(10))
        );
    }

    #[test]
    fn an_empty_file_is_an_empty_config() {
        let root = tree(&[]);
        let config = parse_str("# nothing yet\n", root.path()).expect("parses");
        assert_eq!(config, empty_config());
    }
}
