//! The one place library errors become what a person reads: a message, its
//! causes, hints, and an exit code.

use super::exit;
use strata::ops;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    pub code: u8,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            code: exit::ERROR,
        }
    }

    pub fn cause(mut self, cause: impl Into<String>) -> CliError {
        self.causes.push(cause.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }
}

impl From<ops::Error> for CliError {
    fn from(e: ops::Error) -> CliError {
        let mut causes = strata::error_causes(&e).into_iter();
        let mut err = CliError::new(causes.next().unwrap_or_default());
        for cause in causes {
            err = err.cause(cause);
        }
        match &e {
            ops::Error::Interrupted => {
                err.message = "interrupted: running Terraform commands were stopped and nothing new was started".to_owned();
            }
            ops::Error::Policy(_) => {
                err = err.hint(
                    "fix the policy named, then check with `strata validate`. Nothing was applied",
                );
            }
            ops::Error::RunRefused { hint, .. } => {
                err = err.hint(hint.clone());
            }
            ops::Error::State(strata::state::StateError::Busy { .. }) => {
                err = err.hint(
                    "wait longer with --lock-timeout 5m (or STRATA_LOCK_TIMEOUT), or use another --state-dir",
                );
            }
            ops::Error::Terraform(strata::terraform::TerraformError::NotFound { .. }) => {
                err = err.hint(
                    "check with `terraform version`; strata runs the same binary your shell finds",
                );
            }
            ops::Error::Kube(strata::kube::KubeError::Unreachable { .. }) => {
                err = err.hint(
                    "check the cluster with `kubectl cluster-info`; choose another with --context or --kubeconfig. Nothing was planned or changed",
                );
            }
            ops::Error::Kube(strata::kube::KubeError::Refused { .. }) => {
                err = err.hint(
                    "the token or certificate of this context is wrong or has expired: get fresh credentials (`kubectl auth whoami` shows who the cluster takes you for). Nothing was planned or changed",
                );
            }
            ops::Error::Kube(strata::kube::KubeError::Kubeconfig { .. }) => {
                err = err.hint(
                    "strata finds the cluster as kubectl does: --kubeconfig, KUBECONFIG, ~/.kube/config, or the in-cluster service account",
                );
            }
            _ => {}
        }
        err
    }
}
