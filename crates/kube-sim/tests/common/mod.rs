//! What the tests that drive the real kubectl share: an emulator, and a
//! kubectl with its own HOME (discovery cache) and kubeconfig.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kube_sim::{Background, Options};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/manifests")
}

/// The real kubectl, from the `.tools/` of this checkout that
/// scripts/setup-tools.sh fills, or from `KUBE_SIM_TOOLS` (another
/// checkout's `.tools`, e.g. for a git worktree without its own).
pub fn kubectl_binary() -> PathBuf {
    let tools = std::env::var_os("KUBE_SIM_TOOLS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
        PathBuf::from,
    );
    let path = tools.join("bin/kubectl");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-tools.sh (scripts/test.sh does it), or point KUBE_SIM_TOOLS at a .tools folder",
        path.display()
    );
    path
}

/// An emulator and a kubectl with its own HOME (discovery cache) and
/// kubeconfig.
pub struct Cluster {
    pub sim: Background,
    pub home: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::with(Options::default())
    }

    pub fn with(options: Options) -> Cluster {
        let sim = Background::start(options).expect("kube-sim starts");
        let home = tempfile::tempdir().expect("tempdir");
        sim.sim()
            .write_kubeconfig(&home.path().join("kubeconfig"))
            .expect("kubeconfig");
        Cluster { sim, home }
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.kubectl_within(None, args, stdin)
    }

    /// kubectl, killed (exit 124) when it runs longer than `limit`
    /// (coreutils' `timeout`): for commands that, broken, never end.
    pub fn kubectl_within(
        &self,
        limit: Option<std::time::Duration>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Run {
        let mut cmd = match limit {
            Some(limit) => {
                let mut cmd = Command::new("timeout");
                cmd.arg(format!("{}s", limit.as_secs().max(1)))
                    .arg(kubectl_binary());
                cmd
            }
            None => Command::new(kubectl_binary()),
        };
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("KUBECONFIG", self.home.path().join("kubeconfig"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl finishes").into()
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.kubectl(args, stdin);
        assert_eq!(run.code, 0, "kubectl {args:?}: {run:?}");
        run.stdout
    }
}
