//! The conventional layout, used when the repository has no `strata.hcl`.
//!
//! - stacks: each `infra/*` or `terraform/*` directory that holds `*.tf` or
//!   `*.tf.json` files, named after the directory;
//! - workloads: each `k8s/*` or `manifests/*` directory holding YAML or JSON
//!   files (at any depth), named after the directory; when `k8s/` or
//!   `manifests/` itself holds manifest files, the whole directory is one
//!   workload named `k8s` / `manifests` instead (workloads are read
//!   recursively, so splitting it as well would apply files twice).
//!
//! Hidden directories and symlinks are skipped, so nothing outside the
//! repository is pulled in. Results are sorted by path.

use std::fs;
use std::path::Path;

use super::error::ConfigError;
use super::model::{Approval, Config, Node, Origin, Stack, TerraformSettings, Workload};
use super::names;
use super::validate::has_terraform_files;

const STACK_DIRS: [&str; 2] = ["infra", "terraform"];
const WORKLOAD_DIRS: [&str; 2] = ["k8s", "manifests"];

/// Derives a configuration from the layout of the snapshot at `root`.
///
/// # Errors
///
/// [`ConfigError::NothingFound`] when the layout yields nothing,
/// [`ConfigError::DiscoveryClash`] when two directories get the same name,
/// [`ConfigError::DiscoveryName`] when no name can be derived, and
/// [`ConfigError::Io`] when the tree cannot be read.
pub fn discover(root: &Path) -> Result<Config, ConfigError> {
    if !root.is_dir() {
        return Err(ConfigError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let mut stacks = Vec::new();
    for base in STACK_DIRS {
        for child in subdirectories(&root.join(base))? {
            if has_terraform_files(&root.join(base).join(&child))? {
                let path = format!("{base}/{child}");
                stacks.push(Stack {
                    name: derive_name("stack", &child, &path)?,
                    path,
                    ..Stack::default()
                });
            }
        }
    }

    let mut workloads = Vec::new();
    for base in WORKLOAD_DIRS {
        let dir = root.join(base);
        if !is_real_dir(&dir) {
            continue;
        }
        if has_manifest_files(&dir)? {
            workloads.push(Workload::new(base, base));
            continue;
        }
        for child in subdirectories(&dir)? {
            if contains_manifests(&dir.join(&child))? {
                let path = format!("{base}/{child}");
                workloads.push(Workload::new(derive_name("workload", &child, &path)?, path));
            }
        }
    }

    if stacks.is_empty() && workloads.is_empty() {
        return Err(ConfigError::NothingFound {
            root: root.to_path_buf(),
        });
    }
    stacks.sort_by(|a, b| a.path.cmp(&b.path));
    workloads.sort_by(|a, b| a.path.cmp(&b.path));
    check_unique(&stacks, &workloads)?;

    Ok(Config {
        origin: Origin::Discovered,
        terraform: TerraformSettings::default(),
        stacks,
        workloads,
        outputs: Vec::new(),
        approval: Approval::default(),
        notify: Vec::new(),
        policies: Vec::new(),
    })
}

fn derive_name(kind: &'static str, dir: &str, path: &str) -> Result<String, ConfigError> {
    names::sanitize(dir).ok_or_else(|| ConfigError::DiscoveryName {
        kind,
        path: path.to_owned(),
    })
}

/// Names share one namespace across stacks and workloads, as in `strata.hcl`.
fn check_unique(stacks: &[Stack], workloads: &[Workload]) -> Result<(), ConfigError> {
    let nodes = stacks
        .iter()
        .map(|s| (Node::Stack(s.name.clone()), &s.path))
        .chain(
            workloads
                .iter()
                .map(|w| (Node::Workload(w.name.clone()), &w.path)),
        );
    let mut seen: Vec<(Node, &String)> = Vec::new();
    for (node, path) in nodes {
        if let Some((first, first_path)) = seen.iter().find(|(n, _)| n.name() == node.name()) {
            return Err(ConfigError::DiscoveryClash {
                first: first.clone(),
                first_path: (*first_path).clone(),
                second: node,
                second_path: path.clone(),
            });
        }
        seen.push((node, path));
    }
    Ok(())
}

fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// Names of the visible, non-symlink subdirectories of `dir`, sorted;
/// empty when `dir` does not exist.
fn subdirectories(dir: &Path) -> Result<Vec<String>, ConfigError> {
    if !is_real_dir(dir) {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in read_dir(dir)? {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map_err(io))
        .collect()
}

fn is_manifest_name(name: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Manifest files directly in `dir`.
fn has_manifest_files(dir: &Path) -> Result<bool, ConfigError> {
    Ok(read_dir(dir)?.iter().any(|entry| {
        entry.file_type().is_ok_and(|t| t.is_file())
            && is_manifest_name(&entry.file_name().to_string_lossy())
    }))
}

/// Manifest files anywhere below `dir` (hidden directories and symlinks aside).
fn contains_manifests(dir: &Path) -> Result<bool, ConfigError> {
    if has_manifest_files(dir)? {
        return Ok(true);
    }
    for child in subdirectories(dir)? {
        if contains_manifests(&dir.join(child))? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn discovers_the_conventional_layout() {
        let root = tree(&[
            "infra/network/main.tf",
            "infra/database/main.tf.json",
            "infra/modules/vpc/main.tf",
            "infra/README.md",
            "terraform/dns/main.tf",
            "k8s/platform/ns.yaml",
            "k8s/apps/base/kustomization.yaml",
            "k8s/docs/README.md",
            "manifests/monitoring/x.yml",
        ]);
        let config = discover(root.path()).expect("discovers");
        assert_eq!(config.origin, Origin::Discovered);
        let stacks: Vec<(&str, &str)> = config
            .stacks
            .iter()
            .map(|s| (s.name.as_str(), s.path.as_str()))
            .collect();
        assert_eq!(
            stacks,
            [
                ("database", "infra/database"),
                ("network", "infra/network"),
                ("dns", "terraform/dns")
            ]
        );
        let workloads: Vec<(&str, &str)> = config
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.path.as_str()))
            .collect();
        assert_eq!(
            workloads,
            [
                ("apps", "k8s/apps"),
                ("platform", "k8s/platform"),
                ("monitoring", "manifests/monitoring")
            ]
        );
        assert_eq!(config.workloads[0], Workload::new("apps", "k8s/apps"));
        assert_eq!(config.terraform, TerraformSettings::default());
    }

    #[test]
    fn flat_manifest_directory_is_one_workload() {
        let root = tree(&[
            "k8s/deployment.yaml",
            "k8s/service.json",
            "k8s/extra/x.yaml",
            "manifests/a.yml",
        ]);
        let config = discover(root.path()).expect("discovers");
        let names: Vec<&str> = config.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["k8s", "manifests"]);
        assert_eq!(config.workloads[0].path, "k8s");
        assert!(config.stacks.is_empty());
    }

    #[test]
    fn names_are_sanitized() {
        let root = tree(&["infra/Core Network/main.tf", "k8s/web.v2/a.yaml"]);
        let config = discover(root.path()).expect("discovers");
        assert_eq!(config.stacks[0].name, "core-network");
        assert_eq!(config.stacks[0].path, "infra/Core Network");
        assert_eq!(config.workloads[0].name, "web-v2");
    }

    #[test]
    fn hidden_directories_are_skipped() {
        let root = tree(&[
            "infra/.terraform/x.tf",
            "infra/net/main.tf",
            "k8s/.cache/a.yaml",
            "k8s/app/a.yaml",
        ]);
        let config = discover(root.path()).expect("discovers");
        assert_eq!(config.stacks.len(), 1);
        assert_eq!(config.workloads.len(), 1);
    }

    #[test]
    fn name_collisions_are_errors() {
        let root = tree(&["infra/net/main.tf", "terraform/net/main.tf"]);
        let err = discover(root.path()).expect_err("collision");
        assert_eq!(
            err.to_string(),
            "stack \"net\" (directory \"terraform/net\") and stack \"net\" (directory \"infra/net\") get the same name; names must be unique across stacks and workloads, so rename a directory or write a strata.hcl that names them apart"
        );
        let root = tree(&["infra/monitoring/main.tf", "k8s/monitoring/a.yaml"]);
        assert!(matches!(
            discover(root.path()),
            Err(ConfigError::DiscoveryClash { .. })
        ));
        let root = tree(&["k8s/My App/a.yaml", "k8s/my-app/b.yaml"]);
        assert!(matches!(
            discover(root.path()),
            Err(ConfigError::DiscoveryClash { .. })
        ));
    }

    #[test]
    fn underivable_name_is_an_error() {
        let root = tree(&["infra/___/main.tf"]);
        assert!(matches!(
            discover(root.path()),
            Err(ConfigError::DiscoveryName { kind: "stack", .. })
        ));
    }

    #[test]
    fn nothing_found_says_what_was_looked_for() {
        let root = tree(&[
            "README.md",
            "infra/modules/vpc/main.tf",
            "k8s/docs/README.md",
        ]);
        let err = discover(root.path()).expect_err("nothing");
        assert!(matches!(err, ConfigError::NothingFound { .. }));
        let message = err.to_string();
        for needle in [
            "no strata.hcl",
            "infra/*",
            "terraform/*",
            "k8s/*",
            "manifests/*",
            "strata init",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let outside = tree(&["main.tf", "a.yaml"]);
        let root = tree(&["infra/net/main.tf"]);
        std::fs::create_dir_all(root.path().join("k8s")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("infra/ext")).expect("symlink");
        std::os::unix::fs::symlink(outside.path(), root.path().join("k8s/ext")).expect("symlink");
        let config = discover(root.path()).expect("discovers");
        assert_eq!(config.stacks.len(), 1);
        assert!(config.workloads.is_empty());
    }
}
