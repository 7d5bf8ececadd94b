//! Errors from loading, validating and discovering configuration.
//!
//! Every error a user can cause carries a [`Location`] (file, line and, when
//! known, column) and its message ends with what to do about it. The messages
//! are single lines so they read well both in a terminal and in a JSON report.

use std::fmt;
use std::path::PathBuf;

use super::model::Node;

/// Where in the user's repository an error was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Repository-relative file name, e.g. `strata.hcl`.
    pub file: String,
    /// One-based line number.
    pub line: usize,
    /// One-based column, counted in characters, when known.
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{}:{}:{}", self.file, self.line, column),
            None => write!(f, "{}:{}", self.file, self.line),
        }
    }
}

/// Everything that can go wrong while loading configuration.
///
/// `at` fields point into `strata.hcl`; `hint` fields are ready-to-print
/// suffixes such as ` (did you mean "path"?)` and may be empty.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `strata.hcl` exists but cannot be read (permissions, not UTF-8, ...).
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `strata.hcl` is not UTF-8 (a binary file, another encoding).
    #[error("strata.hcl is not UTF-8 text (byte {offset} is not); write it as HCL text in UTF-8")]
    NotText { offset: usize },

    /// The HCL parser rejected the file.
    #[error("{at}: HCL syntax error: {message}")]
    Syntax { at: Location, message: String },

    /// The same attribute appears twice in one block.
    #[error("{at}: attribute {attribute:?} is set twice in the same block; keep only one")]
    DuplicateAttribute { at: Location, attribute: String },

    /// A top-level block strata does not know.
    #[error(
        "{at}: unknown block type {found:?}; expected one of: terraform, stack, workload, outputs, approval, notify, policy{hint}"
    )]
    UnknownBlock {
        at: Location,
        found: String,
        hint: String,
    },

    /// A block nested inside one of strata's blocks; none of them take sub-blocks.
    #[error("{at}: unexpected block {found:?} inside {block}; {block} takes only attributes{hint}")]
    NestedBlock {
        at: Location,
        found: String,
        block: String,
        hint: String,
    },

    /// An attribute outside of any block.
    #[error(
        "{at}: attribute {attribute:?} is not allowed at the top level; put it inside a block (terraform, stack, workload, outputs, approval, notify, policy)"
    )]
    TopLevelAttribute { at: Location, attribute: String },

    /// An attribute the block does not take.
    #[error("{at}: unknown attribute {attribute:?} in {block}; expected one of: {expected}{hint}")]
    UnknownAttribute {
        at: Location,
        attribute: String,
        block: String,
        expected: String,
        hint: String,
    },

    /// A required attribute is absent.
    #[error("{at}: {block} has no {attribute} attribute; add one, e.g. {example}")]
    MissingAttribute {
        at: Location,
        attribute: &'static str,
        block: String,
        example: &'static str,
    },

    /// The value has the wrong type, e.g. `parallelism = "four"`.
    #[error("{at}: {attribute} in {block} must be {expected}, not {found}")]
    WrongType {
        at: Location,
        attribute: String,
        block: String,
        expected: &'static str,
        found: &'static str,
    },

    /// The value needs evaluation (variable, function call, interpolation, ...).
    #[error(
        "{at}: {attribute} in {block} is {found}; strata.hcl takes only literal values (strings, numbers, bools, lists, objects), so write the value out"
    )]
    NotLiteral {
        at: Location,
        attribute: String,
        block: String,
        found: &'static str,
    },

    /// The value has the right type but is not allowed.
    #[error("{at}: invalid {attribute} {value} in {block}; expected {expected}")]
    InvalidValue {
        at: Location,
        attribute: String,
        block: String,
        /// The offending value as the user wrote it (quoted for strings).
        value: String,
        expected: String,
    },

    /// A block has the wrong number of labels.
    #[error("{at}: a {block_type} block takes {expected}, found {found}; write it like {example}")]
    Labels {
        at: Location,
        block_type: &'static str,
        /// "no labels" or "exactly one label (its name)".
        expected: &'static str,
        found: usize,
        example: &'static str,
    },

    /// A named block (or a singleton block) appears twice.
    #[error("{at}: duplicate {what}; the first one is at line {first_line}; {advice}")]
    DuplicateBlock {
        at: Location,
        what: String,
        first_line: usize,
        advice: &'static str,
    },

    /// A stack or workload name that cannot be used in file names and labels.
    #[error(
        "{at}: {kind} name {name:?} is not valid; use 1 to 63 lowercase letters, digits, '-' and '_', starting and ending with a letter or digit (names are used in file names and Kubernetes labels)"
    )]
    InvalidName {
        at: Location,
        kind: &'static str,
        name: String,
    },

    /// A stack and a workload share a name, which would make `depends_on` ambiguous.
    #[error(
        "{at}: {second} has the same name as {first} at line {first_line}; names must be unique across stacks and workloads because depends_on refers to them by name, so rename one"
    )]
    NameClash {
        at: Location,
        first: Node,
        first_line: usize,
        second: Node,
    },

    /// A path (or var file) that is absolute or climbs out of the repository.
    #[error(
        "{at}: {field} {path:?} of {owner} is outside the repository; paths are relative to the repository root (var and backend config files to the stack's path) and may not leave it"
    )]
    PathOutsideRepo {
        at: Location,
        field: &'static str,
        owner: Node,
        path: String,
    },

    /// A policy's `path` that is not a folder of the repository.
    #[error("{at}: path {path:?} of policy {policy:?} {problem}")]
    PolicyPath {
        at: Location,
        policy: String,
        path: String,
        problem: &'static str,
    },

    /// `path` names nothing in the exported tree.
    #[error(
        "{at}: path {path:?} of {owner} does not exist in this commit; check the spelling and that the directory is committed"
    )]
    PathNotFound {
        at: Location,
        owner: Node,
        path: String,
    },

    /// `path` names a file.
    #[error("{at}: path {path:?} of {owner} is not a directory; point it at a directory")]
    PathNotDirectory {
        at: Location,
        owner: Node,
        path: String,
    },

    /// Two stacks of one root module that would share one state.
    #[error(
        "{at}: stacks {other:?} and {stack:?} both use {path:?} with the same backend configuration and workspace, so they would share one state; give each its own backend_config (a different key or prefix) or workspace"
    )]
    SharedState {
        at: Location,
        stack: String,
        other: String,
        path: String,
    },

    /// A root module's default-workspace state, left from before other
    /// stacks shared its path, that no stack claims.
    #[error(
        "{at}: {path}/terraform.tfstate holds the state of Terraform's default workspace, from before {stacks} shared {path:?}, and none of them uses it: set workspace = \"default\" on the stack it belongs to (otherwise that stack would plan its resources as new)"
    )]
    OrphanedState {
        at: Location,
        path: String,
        stacks: String,
    },

    /// A stack path without Terraform files.
    #[error(
        "{at}: path {path:?} of stack {stack:?} contains no *.tf or *.tf.json files; a stack must point at a Terraform root module"
    )]
    NoTerraformFiles {
        at: Location,
        stack: String,
        path: String,
    },

    /// A var file (or backend config file) that is not in the exported
    /// tree.
    #[error(
        "{at}: {field} {file:?} of stack {stack:?} does not exist in this commit (looked for {resolved:?}); {field}s are relative to the stack's path"
    )]
    VarFileNotFound {
        at: Location,
        /// "var file" or "backend config file".
        field: &'static str,
        stack: String,
        file: String,
        resolved: String,
    },

    /// `depends_on` names no stack (or workload).
    #[error("{at}: {from} depends on {name:?}, which is not {expected}{hint}")]
    UnknownDependency {
        at: Location,
        from: Node,
        name: String,
        /// "a stack" or "a stack or workload".
        expected: &'static str,
        hint: String,
    },

    /// A stack depending on a workload: stacks are applied before any workload converges.
    #[error(
        "{at}: stack {stack:?} depends on workload {workload:?}; stacks may depend only on stacks, because every stack is applied before workloads converge"
    )]
    StackDependsOnWorkload {
        at: Location,
        stack: String,
        workload: String,
    },

    /// A node listing itself in `depends_on`.
    #[error("{at}: {node} depends on itself; remove {:?} from its depends_on", node.name())]
    SelfDependency { at: Location, node: Node },

    /// A dependency cycle; `cycle` starts and ends with the same node.
    #[error(
        "{at}: dependency cycle: {}; remove one of these depends_on entries",
        cycle_text(cycle)
    )]
    Cycle { at: Location, cycle: Vec<Node> },

    /// `outputs "x"` where no stack "x" exists.
    #[error("{at}: outputs {stack:?} refers to a stack that does not exist{hint}")]
    UnknownOutputsStack {
        at: Location,
        stack: String,
        hint: String,
    },

    /// Discovery: reading the repository tree failed.
    #[error("cannot read directory {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Discovery: no `strata.hcl` and no conventional layout.
    #[error(
        "no strata.hcl in the repository root, and nothing to discover: no Terraform root module under infra/* or terraform/*, and no manifests under k8s/* or manifests/*; write a strata.hcl that lists your stacks and workloads (`strata init` writes a starting point), or use that layout"
    )]
    NothingFound { root: PathBuf },

    /// Discovery: two directories map to the same name.
    #[error(
        "{second} (directory {second_path:?}) and {first} (directory {first_path:?}) get the same name; names must be unique across stacks and workloads, so rename a directory or write a strata.hcl that names them apart"
    )]
    DiscoveryClash {
        first: Node,
        first_path: String,
        second: Node,
        second_path: String,
    },

    /// Discovery: a directory name from which no valid name can be derived.
    #[error(
        "cannot derive a {kind} name from directory {path:?}; rename the directory to use letters, digits, '-' or '_', or write a strata.hcl"
    )]
    DiscoveryName { kind: &'static str, path: String },
}

impl ConfigError {
    /// Where in `strata.hcl` the error is, for reports that show it separately.
    pub fn location(&self) -> Option<&Location> {
        use ConfigError as E;
        match self {
            E::Syntax { at, .. }
            | E::DuplicateAttribute { at, .. }
            | E::UnknownBlock { at, .. }
            | E::NestedBlock { at, .. }
            | E::TopLevelAttribute { at, .. }
            | E::UnknownAttribute { at, .. }
            | E::MissingAttribute { at, .. }
            | E::WrongType { at, .. }
            | E::NotLiteral { at, .. }
            | E::InvalidValue { at, .. }
            | E::Labels { at, .. }
            | E::DuplicateBlock { at, .. }
            | E::InvalidName { at, .. }
            | E::NameClash { at, .. }
            | E::PathOutsideRepo { at, .. }
            | E::PathNotFound { at, .. }
            | E::PolicyPath { at, .. }
            | E::PathNotDirectory { at, .. }
            | E::NoTerraformFiles { at, .. }
            | E::SharedState { at, .. }
            | E::OrphanedState { at, .. }
            | E::VarFileNotFound { at, .. }
            | E::UnknownDependency { at, .. }
            | E::StackDependsOnWorkload { at, .. }
            | E::SelfDependency { at, .. }
            | E::Cycle { at, .. }
            | E::UnknownOutputsStack { at, .. } => Some(at),
            E::Read { .. }
            | E::NotText { .. }
            | E::Io { .. }
            | E::NothingFound { .. }
            | E::DiscoveryClash { .. }
            | E::DiscoveryName { .. } => None,
        }
    }
}

fn cycle_text(cycle: &[Node]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_display_with_and_without_column() {
        let mut at = Location {
            file: "strata.hcl".into(),
            line: 12,
            column: Some(3),
        };
        assert_eq!(at.to_string(), "strata.hcl:12:3");
        at.column = None;
        assert_eq!(at.to_string(), "strata.hcl:12");
    }

    #[test]
    fn cycle_is_rendered_as_a_chain() {
        let err = ConfigError::Cycle {
            at: Location {
                file: "strata.hcl".into(),
                line: 4,
                column: Some(16),
            },
            cycle: vec![
                Node::Stack("a".into()),
                Node::Stack("b".into()),
                Node::Stack("a".into()),
            ],
        };
        assert_eq!(
            err.to_string(),
            "strata.hcl:4:16: dependency cycle: stack \"a\" -> stack \"b\" -> stack \"a\"; remove one of these depends_on entries"
        );
    }
}
