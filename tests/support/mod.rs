//! Test support: a Git repository builder and a runner for the strata
//! binary with an isolated state directory and the real Terraform.

#![allow(dead_code, reason = "each test module uses a different part")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The Terraform the suite drives, installed by scripts/setup-tools.sh.
pub fn terraform() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/terraform");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-tools.sh (scripts/test.sh does it for you)",
        path.display()
    );
    path
}

pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("modules-example")
}

/// A throw-away Git repository.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Strata Test",
                "-c",
                "user.email=test@strata.dev",
            ])
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, path: &str, text: &str) -> &Repo {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
        self
    }

    pub fn remove(&self, path: &str) -> &Repo {
        std::fs::remove_file(self.path().join(path)).expect("remove");
        self
    }

    /// Stages everything and commits; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A strata invocation with its own state directory.
pub struct Strata {
    pub state: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

/// What a finished strata run printed.
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
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl Strata {
    pub fn new() -> Strata {
        Strata {
            state: tempfile::tempdir().expect("tempdir"),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The command, with a clean environment: PATH, a private HOME, the
    /// state directory and the real Terraform.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("STRATA_STATE_DIR", self.state.path())
            .env("STRATA_TERRAFORM", terraform())
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("strata runs").into()
    }

    /// `strata <args> --repo <repo>`.
    pub fn on(&self, repo: &Repo, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        let path = repo.path().to_str().expect("utf-8 path");
        all.extend(["--repo", path]);
        self.run(&all)
    }

    /// The exported tree of the only repository in the state directory,
    /// where Terraform keeps its local state.
    pub fn tree(&self) -> PathBuf {
        let repos = self.state.path().join("repos");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&repos)
            .expect("repos dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(entries.len(), 1, "one repository in {}", repos.display());
        entries.remove(0).join("tree")
    }

    /// Runs the real Terraform directly in a stack of the exported tree,
    /// as a person would to apply a stack before strata can.
    pub fn terraform(&self, stack_path: &str, args: &[&str]) -> Output {
        let out = Command::new(terraform())
            .args(args)
            .current_dir(self.tree().join(stack_path))
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .expect("terraform runs");
        assert!(
            out.status.success(),
            "terraform {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// A strata.hcl with one stack per (name, path, depends_on).
pub fn stacks_hcl(stacks: &[(&str, &str, &[&str])]) -> String {
    let mut s = String::new();
    for (name, path, deps) in stacks {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        s.push_str(&format!(
            "stack \"{name}\" {{\n  path = \"{path}\"\n  depends_on = [{}]\n}}\n\n",
            deps.join(", ")
        ));
    }
    s
}
