//! Integration tests: each drives the real `strata` binary against real
//! Terraform (installed by scripts/setup-tools.sh) and throw-away Git
//! repositories built by the test. One test binary keeps link time down.

mod support;

/// `strata apply`, `approve` and `runs` without a terminal.
mod apply;
/// Changed-only runs: `plan --changed`, `apply --changed`, and `watch`.
mod changed;
/// `strata validate` and `strata init`.
mod config;
/// A corpus of bad input: each case exits 1, says what and where, does not
/// panic, finishes in bounded time, writes nothing and prints no secret.
mod corpus;
/// Interrupts and crashes at exact places of `apply`, and the repair.
mod crash;
/// `strata drift`, the nightly plan-only run.
mod drift;
/// One root module, one stack per environment.
mod environments;
/// Bad input: each gets exit 1 and a message naming the problem.
mod errors;
/// The stack executor: which Terraform commands a run needs, and no more.
mod executor;
/// Hostile repositories: symlinks, paths and kustomizations that lead out
/// of the repository, values the API server would reject.
mod hostile;
/// The module graph of src/ has no import cycles.
mod layering;
/// Markdown reports that fit a pull-request comment (`--max-bytes`).
mod markdown;
/// Both layers in one pipeline: outputs into the cluster, one gate.
mod pipeline;
/// `strata plan` and `strata inspect` on real Terraform plans.
mod plan;
/// Policies in Rego on both layers, checked against OPA's own engine.
mod policy;
/// Ctrl-C, stack ordering and parallelism.
mod process;
/// The approval prompt, through a real pseudo-terminal.
mod prompt;
/// deploy/rbac.yaml: enough for watch and drift, and every rule needed.
mod rbac;
/// Real-world manifest trees (tests/fixtures/real-world/) converge, and
/// `kubectl diff --server-side` of each agrees.
mod realworld;
/// Secrets never reach any output.
mod secrets;
/// SOPS-encrypted manifests, generator sources and var files: decrypted,
/// applied, never shown; a wrong key or a tampered file stops the run.
mod sops;
/// Git sources: refs, tags, old commits, --worktree, and their errors.
mod source;
/// `strata watch`, the reconcile loop.
mod watch;
/// The Kubernetes layer against kube-sim and the real kubectl.
mod workloads;
