//! Checks that need the whole file or the repository tree: dependencies,
//! cycles, `outputs` targets, and that every path exists in the exported
//! commit.
//!
//! Runs after [`super::parse`], which already checked each block on its own.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location};
use super::graph::find_cycle;
use super::model::{Config, Node};
use super::parse::{NodePositions, Positions};
use super::{names, path};

/// Validates a parsed configuration against the snapshot at `root`.
pub(super) fn validate(
    config: &Config,
    positions: &Positions,
    root: &Path,
) -> Result<(), ConfigError> {
    check_dependencies(config, positions)?;
    check_outputs(config, positions)?;
    check_cycles(config, positions)?;
    check_paths(config, positions, root)?;
    check_instances(config, positions, root)
}

/// Stacks that share a root module (one per environment) must not share a
/// state: their workspaces or backend configurations differ. A state left
/// in the default workspace from before the path was shared must belong
/// to one of them.
fn check_instances(config: &Config, positions: &Positions, root: &Path) -> Result<(), ConfigError> {
    let stacks = &config.stacks;
    for (i, (stack, at)) in stacks.iter().zip(&positions.stacks).enumerate() {
        if !stack.shares_path(stacks) {
            continue;
        }
        let dir = root.join(&stack.path);
        let local = crate::terraform::init::Requirements::read(&dir).local_state();
        let state = |s: &super::Stack| (s.workspace_in(true, local), s.backend_args());
        if let Some(other) = stacks[..i]
            .iter()
            .find(|o| o.path == stack.path && state(o) == state(stack))
        {
            return Err(ConfigError::SharedState {
                at: at.path.clone(),
                stack: stack.name.clone(),
                other: other.name.clone(),
                path: stack.path.clone(),
            });
        }
        let first = stacks.iter().position(|s| s.path == stack.path) == Some(i);
        let sharing: Vec<&super::Stack> = stacks.iter().filter(|s| s.path == stack.path).collect();
        let default_used = sharing.iter().any(|s| {
            matches!(
                s.workspace_in(true, local).as_deref(),
                None | Some("default")
            )
        });
        if first && local && !default_used && dir.join("terraform.tfstate").is_file() {
            let names: Vec<String> = sharing.iter().map(|s| format!("{:?}", s.name)).collect();
            return Err(ConfigError::OrphanedState {
                at: at.path.clone(),
                path: stack.path.clone(),
                stacks: names.join(" and "),
            });
        }
    }
    Ok(())
}

fn check_dependencies(config: &Config, positions: &Positions) -> Result<(), ConfigError> {
    let stack_names: Vec<&str> = config.stacks.iter().map(|s| s.name.as_str()).collect();
    let all_names: Vec<&str> = stack_names
        .iter()
        .copied()
        .chain(config.workloads.iter().map(|w| w.name.as_str()))
        .collect();

    for (stack, at) in config.stacks.iter().zip(&positions.stacks) {
        let from = Node::Stack(stack.name.clone());
        for (dep, dep_at) in stack.depends_on.iter().zip(&at.depends_on) {
            if *dep == stack.name {
                return Err(ConfigError::SelfDependency {
                    at: dep_at.clone(),
                    node: from,
                });
            }
            if config.stack(dep).is_some() {
                continue;
            }
            return Err(if config.workload(dep).is_some() {
                ConfigError::StackDependsOnWorkload {
                    at: dep_at.clone(),
                    stack: stack.name.clone(),
                    workload: dep.clone(),
                }
            } else {
                ConfigError::UnknownDependency {
                    at: dep_at.clone(),
                    from,
                    name: dep.clone(),
                    expected: "a stack",
                    hint: names::hint_from(dep, &stack_names, "stack"),
                }
            });
        }
    }

    for (workload, at) in config.workloads.iter().zip(&positions.workloads) {
        let from = Node::Workload(workload.name.clone());
        for (dep, dep_at) in workload.depends_on.iter().zip(&at.depends_on) {
            if *dep == workload.name {
                return Err(ConfigError::SelfDependency {
                    at: dep_at.clone(),
                    node: from,
                });
            }
            if config.stack(dep).is_none() && config.workload(dep).is_none() {
                return Err(ConfigError::UnknownDependency {
                    at: dep_at.clone(),
                    from,
                    name: dep.clone(),
                    expected: "a stack or workload",
                    hint: names::hint_from(dep, &all_names, "stack or workload"),
                });
            }
        }
    }
    Ok(())
}

fn check_outputs(config: &Config, positions: &Positions) -> Result<(), ConfigError> {
    let stack_names: Vec<&str> = config.stacks.iter().map(|s| s.name.as_str()).collect();
    for (outputs, at) in config.outputs.iter().zip(&positions.outputs) {
        if config.stack(&outputs.stack).is_none() {
            return Err(ConfigError::UnknownOutputsStack {
                at: at.clone(),
                stack: outputs.stack.clone(),
                hint: names::hint_from(&outputs.stack, &stack_names, "stack"),
            });
        }
    }
    Ok(())
}

fn check_cycles(config: &Config, positions: &Positions) -> Result<(), ConfigError> {
    let Some(cycle) = find_cycle(config) else {
        return Ok(());
    };
    // Point at the depends_on entry that leads from the first member to the
    // second: removing it is one way to break the cycle.
    let at = match (&cycle[0], cycle.get(1)) {
        (first, Some(next)) => node_positions(config, positions, first).and_then(|(deps, p)| {
            deps.iter()
                .position(|dep| dep == next.name())
                .and_then(|i| p.depends_on.get(i).cloned())
        }),
        _ => None,
    };
    Err(ConfigError::Cycle {
        at: at.unwrap_or_else(|| line_only(config, &cycle[0])),
        cycle,
    })
}

fn node_positions<'a>(
    config: &'a Config,
    positions: &'a Positions,
    node: &Node,
) -> Option<(&'a [String], &'a NodePositions)> {
    match node {
        Node::Stack(name) => {
            let i = config.stacks.iter().position(|s| s.name == *name)?;
            Some((&config.stacks[i].depends_on, positions.stacks.get(i)?))
        }
        Node::Workload(name) => {
            let i = config.workloads.iter().position(|w| w.name == *name)?;
            Some((&config.workloads[i].depends_on, positions.workloads.get(i)?))
        }
    }
}

fn line_only(config: &Config, node: &Node) -> Location {
    let line = match node {
        Node::Stack(name) => config.stack(name).map_or(1, |s| s.line),
        Node::Workload(name) => config.workload(name).map_or(1, |w| w.line),
    };
    Location {
        file: super::FILE_NAME.to_owned(),
        line,
        column: None,
    }
}

fn check_paths(config: &Config, positions: &Positions, root: &Path) -> Result<(), ConfigError> {
    let tree = Tree::new(root)?;
    for (stack, at) in config.stacks.iter().zip(&positions.stacks) {
        let owner = Node::Stack(stack.name.clone());
        let dir = tree.directory(&stack.path, &owner, &at.path)?;
        if !has_terraform_files(&dir)? {
            return Err(ConfigError::NoTerraformFiles {
                at: at.path.clone(),
                stack: stack.name.clone(),
                path: stack.path.clone(),
            });
        }
        let files = (stack.var_files.iter().zip(&at.var_files))
            .map(|f| ("var file", f))
            .chain(
                (stack.backend_config_files.iter())
                    .zip(&at.backend_config_files)
                    .map(|f| ("backend config file", f)),
            );
        for (field, (file, file_at)) in files {
            let outside = || ConfigError::PathOutsideRepo {
                at: file_at.clone(),
                field,
                owner: owner.clone(),
                path: file.clone(),
            };
            let resolved = path::join(&stack.path, file).ok_or_else(outside)?;
            match tree.resolve(&resolved) {
                Resolved::Inside(full) if full.is_file() => {}
                Resolved::Outside => return Err(outside()),
                Resolved::Inside(_) | Resolved::Missing => {
                    return Err(ConfigError::VarFileNotFound {
                        at: file_at.clone(),
                        field,
                        stack: stack.name.clone(),
                        file: file.clone(),
                        resolved,
                    });
                }
            }
        }
    }
    for (policy, at) in config.policies.iter().zip(&positions.policies) {
        let problem = match tree.resolve(&policy.path) {
            Resolved::Inside(full) if full.is_dir() => continue,
            Resolved::Inside(_) => "is not a folder; name the folder that holds the .rego files",
            Resolved::Outside => "leads outside the repository; name a folder inside it",
            Resolved::Missing => {
                "does not exist in this commit; check the spelling and that the folder is committed"
            }
        };
        return Err(ConfigError::PolicyPath {
            at: at.clone(),
            policy: policy.name.clone(),
            path: policy.path.clone(),
            problem,
        });
    }
    for (workload, at) in config.workloads.iter().zip(&positions.workloads) {
        tree.directory(
            &workload.path,
            &Node::Workload(workload.name.clone()),
            &at.path,
        )?;
    }
    Ok(())
}

/// The exported snapshot, resolved once so symlinks cannot lead outside it.
struct Tree {
    root: PathBuf,
}

enum Resolved {
    Inside(PathBuf),
    Outside,
    Missing,
}

impl Tree {
    fn new(root: &Path) -> Result<Self, ConfigError> {
        let root = root.canonicalize().map_err(|source| ConfigError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Tree { root })
    }

    fn resolve(&self, relative: &str) -> Resolved {
        match self.root.join(relative).canonicalize() {
            Ok(full) if full.starts_with(&self.root) => Resolved::Inside(full),
            Ok(_) => Resolved::Outside,
            Err(_) => Resolved::Missing,
        }
    }

    /// The directory at `relative`, or the error for `owner`'s `path`.
    fn directory(
        &self,
        relative: &str,
        owner: &Node,
        at: &Location,
    ) -> Result<PathBuf, ConfigError> {
        match self.resolve(relative) {
            Resolved::Inside(full) if full.is_dir() => Ok(full),
            Resolved::Inside(_) => Err(ConfigError::PathNotDirectory {
                at: at.clone(),
                owner: owner.clone(),
                path: relative.to_owned(),
            }),
            Resolved::Outside => Err(ConfigError::PathOutsideRepo {
                at: at.clone(),
                field: "path",
                owner: owner.clone(),
                path: relative.to_owned(),
            }),
            Resolved::Missing => Err(ConfigError::PathNotFound {
                at: at.clone(),
                owner: owner.clone(),
                path: relative.to_owned(),
            }),
        }
    }
}

/// Whether `dir` directly holds `*.tf` or `*.tf.json` files, as a Terraform
/// root module does.
pub(super) fn has_terraform_files(dir: &Path) -> Result<bool, ConfigError> {
    let entries = fs::read_dir(dir).map_err(|source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (name.ends_with(".tf") || name.ends_with(".tf.json")) && entry.path().is_file() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::super::tests::tree;
    use super::*;

    const FILES: &[&str] = &[
        "infra/network/main.tf",
        "infra/network/prod.tfvars",
        "infra/common.tfvars",
        "infra/database/main.tf.json",
        "infra/empty/README.md",
        "k8s/apps/a.yaml",
        "k8s/web/a.yaml",
        "notes.txt",
    ];

    fn check(text: &str) -> Result<Config, ConfigError> {
        let root = tree(FILES);
        parse_str(text, root.path())
    }

    fn message(text: &str) -> String {
        match check(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn a_policy_path_must_be_a_folder_of_the_commit() {
        assert!(
            check("policy \"p\" {\n  path = \"k8s\"\n}\n").is_ok(),
            "a folder passes"
        );
        let missing = message("policy \"p\" {\n  path = \"policies\"\n}\n");
        assert_eq!(
            missing,
            "strata.hcl:2:10: path \"policies\" of policy \"p\" does not exist in this commit; check the spelling and that the folder is committed"
        );
        let file = message("policy \"p\" {\n  path = \"notes.txt\"\n}\n");
        assert!(file.contains("is not a folder"), "{file}");
    }

    #[test]
    fn valid_paths_and_var_files_pass() {
        let config = check(
            "stack \"network\" {\n  path = \"infra/network\"\n  var_files = [\"prod.tfvars\", \"../common.tfvars\"]\n}\n",
        )
        .expect("valid");
        assert_eq!(
            config.stacks[0].var_file_paths(),
            ["infra/network/prod.tfvars", "infra/common.tfvars"]
        );
    }

    #[test]
    fn missing_path() {
        assert_eq!(
            message("stack \"network\" {\n  path = \"infra/nets\"\n}\n"),
            "strata.hcl:2:10: path \"infra/nets\" of stack \"network\" does not exist in this commit; check the spelling and that the directory is committed"
        );
        let err = check("workload \"apps\" {\n  path = \"k8s/nope\"\n}\n").expect_err("missing");
        assert!(matches!(
            err,
            ConfigError::PathNotFound {
                owner: Node::Workload(_),
                ..
            }
        ));
    }

    #[test]
    fn path_to_a_file() {
        let err = check("workload \"apps\" {\n  path = \"notes.txt\"\n}\n").expect_err("file");
        assert!(
            matches!(err, ConfigError::PathNotDirectory { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn stack_without_terraform_files() {
        assert_eq!(
            message("stack \"e\" {\n  path = \"infra/empty\"\n}\n"),
            "strata.hcl:2:10: path \"infra/empty\" of stack \"e\" contains no *.tf or *.tf.json files; a stack must point at a Terraform root module"
        );
    }

    #[test]
    fn missing_var_file() {
        assert_eq!(
            message(
                "stack \"network\" {\n  path = \"infra/network\"\n  var_files = [\"prod.tfvars\", \"staging.tfvars\"]\n}\n"
            ),
            "strata.hcl:3:31: var file \"staging.tfvars\" of stack \"network\" does not exist in this commit (looked for \"infra/network/staging.tfvars\"); var files are relative to the stack's path"
        );
        let err = check(
            "stack \"network\" {\n  path = \"infra/network\"\n  var_files = [\"../../../x\"]\n}\n",
        )
        .expect_err("outside");
        assert!(
            matches!(
                err,
                ConfigError::PathOutsideRepo {
                    field: "var file",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_of_the_repository() {
        let outside = tree(&["main.tf"]);
        let root = tree(FILES);
        std::os::unix::fs::symlink(outside.path(), root.path().join("infra/link"))
            .expect("symlink");
        let err = parse_str("stack \"l\" {\n  path = \"infra/link\"\n}\n", root.path())
            .expect_err("outside");
        assert!(
            matches!(err, ConfigError::PathOutsideRepo { field: "path", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_dependency_suggests_a_name() {
        let text = "stack \"network\" {\n  path = \"infra/network\"\n}\nstack \"db\" {\n  path = \"infra/database\"\n  depends_on = [\"netwrok\"]\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:6:17: stack \"db\" depends on \"netwrok\", which is not a stack (did you mean \"network\"?)"
        );
        let text = "stack \"network\" {\n  path = \"infra/network\"\n}\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  depends_on = [\"zzz\"]\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:6:17: workload \"apps\" depends on \"zzz\", which is not a stack or workload; defined: \"network\", \"apps\""
        );
    }

    #[test]
    fn stack_may_not_depend_on_a_workload() {
        let text = "stack \"network\" {\n  path = \"infra/network\"\n  depends_on = [\"apps\"]\n}\nworkload \"apps\" {\n  path = \"k8s/apps\"\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:3:17: stack \"network\" depends on workload \"apps\"; stacks may depend only on stacks, because every stack is applied before workloads converge"
        );
    }

    #[test]
    fn workloads_may_depend_on_stacks_and_workloads() {
        let text = "stack \"network\" {\n  path = \"infra/network\"\n}\nworkload \"apps\" {\n  path = \"k8s/apps\"\n  depends_on = [\"network\", \"web\"]\n}\nworkload \"web\" {\n  path = \"k8s/web\"\n}\n";
        let config = check(text).expect("valid");
        assert_eq!(config.layers().len(), 2);
    }

    #[test]
    fn self_dependency() {
        let text = "workload \"apps\" {\n  path = \"k8s/apps\"\n  depends_on = [\"apps\"]\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:3:17: workload \"apps\" depends on itself; remove \"apps\" from its depends_on"
        );
    }

    #[test]
    fn cycle_is_named_whole() {
        let text = "stack \"a\" {\n  path = \"infra/network\"\n  depends_on = [\"b\"]\n}\nstack \"b\" {\n  path = \"infra/database\"\n  depends_on = [\"a\"]\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:3:17: dependency cycle: stack \"a\" -> stack \"b\" -> stack \"a\"; remove one of these depends_on entries"
        );
        let text = "workload \"apps\" {\n  path = \"k8s/apps\"\n  depends_on = [\"web\"]\n}\nworkload \"web\" {\n  path = \"k8s/web\"\n  depends_on = [\"apps\"]\n}\n";
        let err = check(text).expect_err("cycle");
        assert!(
            matches!(err, ConfigError::Cycle { ref cycle, .. } if cycle.len() == 3),
            "{err:?}"
        );
    }

    #[test]
    fn outputs_for_an_unknown_stack() {
        let text = "stack \"database\" {\n  path = \"infra/database\"\n}\noutputs \"databse\" {\n  secret = \"apps/db\"\n}\n";
        assert_eq!(
            message(text),
            "strata.hcl:4:9: outputs \"databse\" refers to a stack that does not exist (did you mean \"database\"?)"
        );
    }
}
