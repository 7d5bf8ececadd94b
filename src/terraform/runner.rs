//! Driving the real `terraform` (or `tofu`) binary.
//!
//! [`Terraform::locate`] finds and version-checks the binary; the methods run
//! one Terraform command each in a stack directory with `-input=false`,
//! `-no-color` and an explicit environment ([`child_env`]).
//! [`Terraform::prepare`] runs `init` only when a stack needs one (see
//! [`super::init`]); an init that may download providers is serialized with
//! the others, because Terraform's plugin cache is not safe for concurrent
//! writers. Everything else runs in parallel.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::init;
use crate::interrupt::Interrupt;
use crate::process::{self, Output, Process, ProcessError};

/// The lowest Terraform version strata drives (JSON plan format 0.1+ and
/// `-detailed-exitcode` semantics as documented since 1.0).
const MIN_MAJOR: u64 = 1;

/// Lines of stderr kept in error messages.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error(
        "no Terraform binary found (tried {tried}); install Terraform 1.0 or later, or set \
         STRATA_TERRAFORM or `binary` in the terraform block of strata.hcl"
    )]
    NotFound { tried: String },
    #[error("{binary} is Terraform {found}; strata needs 1.0 or later")]
    TooOld { binary: String, found: String },
    #[error("could not read the version of {binary} from `version -json`: {detail}")]
    Version { binary: String, detail: String },
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(
        "the state of this stack is locked by another process; wait for it or, if it is gone, \
         run `terraform force-unlock` in the stack\n{lock_info}"
    )]
    Locked { lock_info: String },
    #[error(
        "stale: the saved plan can no longer be applied because the state changed since it was \
         planned; re-plan with strata plan"
    )]
    StalePlan,
    #[error("terraform {command} was interrupted")]
    Interrupted { command: &'static str },
    #[error("terraform {command} failed with {status}:\n{stderr}")]
    Failed {
        command: &'static str,
        status: String,
        stderr: String,
    },
    #[error("terraform {command} printed output that is not valid JSON")]
    BadJson {
        command: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// What `plan -detailed-exitcode` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanExit {
    /// Exit 0: no changes, and nothing changed outside Terraform either
    /// (Terraform exits 2 for drift that would update the state).
    /// `warnings`: Terraform printed warnings (a failed `check` block, say),
    /// which only the plan's JSON details.
    NoChanges {
        warnings: bool,
    },
    Changes,
}

/// Where to look for the binary, in order.
#[derive(Debug, Default, Clone)]
pub struct Locate {
    /// `terraform.binary` from strata.hcl: a name on PATH or a path.
    pub configured: Option<String>,
    /// The value of `STRATA_TERRAFORM`.
    pub env_override: Option<OsString>,
    /// The PATH to search.
    pub path: Option<OsString>,
    /// Directory a relative `configured` path is resolved against.
    pub cwd: PathBuf,
    /// Where the version of the binary found is remembered, so that
    /// `version -json` runs only when the binary changes.
    pub version_cache: Option<PathBuf>,
}

/// Where and how Terraform runs for one stack: the root module's
/// directory, its data directory (`TF_DATA_DIR`), its workspace and the
/// backend configuration of its init. Stacks that share a root module
/// share the directory and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workdir {
    pub dir: PathBuf,
    pub data: PathBuf,
    /// `TF_WORKSPACE`; `None` is Terraform's `default`.
    pub workspace: Option<String>,
    /// The values of `-backend-config=…` (`KEY=VALUE` or a file).
    pub backend_args: Vec<String>,
    /// Other stacks use the same directory: their inits (which may write
    /// its dependency lock file) do not run at the same time.
    pub shared: bool,
}

impl Workdir {
    /// A root module alone in its directory, as Terraform runs it by
    /// default: `.terraform`, the default workspace.
    pub fn plain(dir: &Path) -> Workdir {
        Workdir {
            dir: dir.to_owned(),
            data: dir.join(".terraform"),
            workspace: None,
            backend_args: Vec::new(),
            shared: false,
        }
    }
}

/// What identifies a binary for the version cache: its real path, size,
/// modification time and inode. Replacing or upgrading it changes one.
fn identity(binary: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let real = binary.canonicalize().ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    Some(format!(
        "{} {} {}.{} {}",
        real.display(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    ))
}

/// Writes the version cache; a cache that cannot be written only means
/// `version -json` runs again next time.
fn remember_version(cache: &Path, identity: &str, version: &str) {
    let dir = cache.parent().unwrap_or(Path::new("."));
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut file| {
        use std::io::Write as _;
        writeln!(file, "{identity}\n{version}")?;
        file.persist(cache).map_err(|e| e.error)?;
        Ok(())
    });
    if let Err(e) = written {
        tracing::debug!(error = %e, "cannot remember the Terraform version");
    }
}

/// A located, version-checked Terraform.
#[derive(Debug, Clone)]
pub struct Terraform {
    binary: PathBuf,
    version: String,
    env: Vec<(OsString, OsString)>,
    lock_timeout: String,
    init_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Terraform {
    /// The environment Terraform runs with (strata's own variables left
    /// out), for what reads it on Terraform's behalf: the age identities of
    /// SOPS-encrypted var files.
    pub fn environment(&self) -> crate::environment::Environment {
        crate::environment::Environment {
            vars: self.env.clone(),
        }
    }

    /// Finds the binary (configured, then `STRATA_TERRAFORM`, then
    /// `terraform` and `tofu` on PATH) and checks its version.
    ///
    /// # Errors
    /// [`TerraformError::NotFound`], [`TerraformError::TooOld`] or a failure
    /// to run `version -json`.
    pub async fn locate(
        how: &Locate,
        env: Vec<(OsString, OsString)>,
        lock_timeout: &str,
        interrupt: &Interrupt,
    ) -> Result<Terraform, TerraformError> {
        let mut candidates: Vec<OsString> = Vec::new();
        if let Some(c) = &how.configured {
            candidates.push(c.into());
        }
        if let Some(c) = &how.env_override {
            candidates.push(c.clone());
        }
        candidates.push("terraform".into());
        candidates.push("tofu".into());
        // A configured or overridden binary that is missing is an error of
        // its own: silently falling back to another binary would surprise.
        let explicit = how.configured.is_some() || how.env_override.is_some();
        let mut tried = Vec::new();
        let mut found = None;
        for candidate in if explicit {
            &candidates[..1]
        } else {
            &candidates[..]
        } {
            tried.push(candidate.to_string_lossy().into_owned());
            if let Ok(path) = which::which_in(candidate, how.path.as_ref(), &how.cwd) {
                found = Some(path);
                break;
            }
        }
        let binary = found.ok_or_else(|| TerraformError::NotFound {
            tried: tried.join(", "),
        })?;
        let mut tf = Terraform {
            binary,
            version: String::new(),
            env,
            lock_timeout: lock_timeout.to_owned(),
            init_lock: Arc::default(),
        };
        let identity = how.version_cache.as_ref().and(identity(&tf.binary));
        let cached =
            how.version_cache
                .as_ref()
                .zip(identity.as_ref())
                .and_then(|(cache, identity)| {
                    let text = std::fs::read_to_string(cache).ok()?;
                    let (id, version) = text.trim_end().split_once('\n')?;
                    (id == identity).then(|| version.to_owned())
                });
        tf.version = match cached {
            Some(version) => version,
            None => {
                let version = tf.read_version(interrupt).await?;
                if let (Some(cache), Some(identity)) = (&how.version_cache, &identity) {
                    remember_version(cache, identity, &version);
                }
                version
            }
        };
        tracing::debug!(binary = %tf.binary.display(), version = %tf.version, "terraform located");
        Ok(tf)
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn command(&self, dir: &Path) -> Process {
        Process::new(&self.binary)
            .cwd(dir)
            .envs(self.env.iter().cloned())
    }

    /// A command for stack `wd`: in its directory, with its data
    /// directory and workspace.
    fn command_in(&self, wd: &Workdir) -> Process {
        let mut command = self
            .command(&wd.dir)
            .env("TF_DATA_DIR", wd.data.as_os_str());
        if let Some(workspace) = &wd.workspace {
            command = command.env("TF_WORKSPACE", workspace);
        }
        command
    }

    /// Reads and checks the version with `version -json`.
    async fn read_version(&self, interrupt: &Interrupt) -> Result<String, TerraformError> {
        let binary = self.binary.display().to_string();
        let out = self
            .command(Path::new("/"))
            .args(["version", "-json"])
            .run(interrupt)
            .await?;
        let bad = |detail: String| TerraformError::Version {
            binary: binary.clone(),
            detail,
        };
        if out.interrupted {
            return Err(TerraformError::Interrupted { command: "version" });
        }
        if !out.status.success() {
            return Err(bad(format!(
                "{}: {}",
                process::describe_status(&out.status),
                out.stderr_tail(TAIL_LINES)
            )));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| bad(e.to_string()))?;
        let version = json
            .get("terraform_version")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("no terraform_version field".to_owned()))?
            .to_owned();
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u64>().ok())
            .ok_or_else(|| bad(format!("unrecognised version {version:?}")))?;
        if major < MIN_MAJOR {
            return Err(TerraformError::TooOld {
                binary,
                found: version,
            });
        }
        Ok(version)
    }

    /// Makes `dir` ready to plan: runs `terraform init` when it needs one
    /// (see [`super::init`]) and records it. Returns whether init ran.
    ///
    /// # Errors
    /// When init fails or is interrupted.
    pub async fn prepare(
        &self,
        wd: &Workdir,
        interrupt: &Interrupt,
    ) -> Result<bool, TerraformError> {
        let dir = &wd.dir;
        let (reqs, print) = crate::off_the_runtime(|| {
            let reqs = init::Requirements::read(dir);
            let print = init::fingerprint(dir, &reqs, &self.version, &wd.backend_args);
            (reqs, print)
        });
        match init::decide(dir, &wd.data, &self.plugin_cache(), &reqs, &print) {
            init::Need::Nothing | init::Need::UpToDate => Ok(false),
            init::Need::Init { exclusive } => {
                self.init(wd, exclusive, &reqs, interrupt).await?;
                Ok(true)
            }
        }
    }

    /// `terraform init -input=false` in `wd`, alone when `exclusive` or
    /// when the directory is shared; records it for [`Terraform::prepare`].
    async fn init(
        &self,
        wd: &Workdir,
        exclusive: bool,
        reqs: &init::Requirements,
        interrupt: &Interrupt,
    ) -> Result<(), TerraformError> {
        let _serialized = if exclusive || wd.shared {
            Some(self.init_lock.lock().await)
        } else {
            None
        };
        let mut command = self
            .command_in(wd)
            .args(["init", "-input=false", "-no-color"]);
        for arg in &wd.backend_args {
            command = command.arg(flag("-backend-config=", arg));
        }
        let out = command.run(interrupt).await?;
        check("init", &out, &[0])?;
        // Init may have written the lock file: fingerprint what it left.
        let print = init::fingerprint(&wd.dir, reqs, &self.version, &wd.backend_args);
        init::record(&wd.data, &print);
        Ok(())
    }

    /// The plugin cache the children share.
    fn plugin_cache(&self) -> PathBuf {
        self.env
            .iter()
            .find(|(k, _)| k == "TF_PLUGIN_CACHE_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap_or_default()
    }

    /// `terraform plan -out=PLANFILE -detailed-exitcode` in `dir`.
    ///
    /// # Errors
    /// When Terraform fails, the state is locked, or it is interrupted.
    pub async fn plan(
        &self,
        wd: &Workdir,
        planfile: &Path,
        var_files: &[PathBuf],
        var_env: &[(String, String)],
        interrupt: &Interrupt,
    ) -> Result<PlanExit, TerraformError> {
        let dir = &wd.dir;
        let mut command =
            self.command_in(wd)
                .args(["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
        for (key, value) in var_env {
            command = command.env(key, value);
        }
        command = command.arg(flag("-lock-timeout=", &self.lock_timeout));
        command = command.arg(flag("-out=", planfile));
        for file in var_files {
            command = command.arg(flag("-var-file=", file));
        }
        let mut out = command.run(interrupt).await?;
        if !out.interrupted && out.code() == Some(1) && init::needs_init(&out.stderr) {
            // Something init installs that the reading of the module did
            // not see: init, then plan again.
            tracing::debug!(dir = %dir.display(), "terraform asks for init; initializing");
            self.init(wd, true, &init::Requirements::read(dir), interrupt)
                .await?;
            out = command.run(interrupt).await?;
        }
        match check("plan", &out, &[0, 2])? {
            2 => Ok(PlanExit::Changes),
            _ => Ok(PlanExit::NoChanges {
                warnings: out.stdout.windows(8).any(|w| w == b"Warning:")
                    || out.stderr.contains("Warning:"),
            }),
        }
    }

    /// `terraform show -json PLANFILE`, streamed into `dest`.
    ///
    /// # Errors
    /// When Terraform fails or is interrupted.
    pub async fn show_json(
        &self,
        wd: &Workdir,
        planfile: &Path,
        dest: &Path,
        interrupt: &Interrupt,
    ) -> Result<(), TerraformError> {
        let out = self
            .command_in(wd)
            .args(["show", "-json", "-no-color"])
            .arg(planfile)
            .stdout_to_file(dest)
            .run(interrupt)
            .await?;
        check("show", &out, &[0]).map(|_| ())
    }

    /// `terraform apply -input=false PLANFILE`: applies exactly the saved
    /// plan.
    ///
    /// # Errors
    /// [`TerraformError::StalePlan`] when Terraform refuses the plan as
    /// stale; otherwise as the other commands.
    pub async fn apply(
        &self,
        wd: &Workdir,
        planfile: &Path,
        interrupt: &Interrupt,
    ) -> Result<(), TerraformError> {
        let out = self
            .command_in(wd)
            .args(["apply", "-input=false", "-no-color"])
            .arg(flag("-lock-timeout=", &self.lock_timeout))
            .arg(planfile)
            .run(interrupt)
            .await?;
        if !out.interrupted && out.code() != Some(0) && out.stderr.contains("Saved plan is stale") {
            return Err(TerraformError::StalePlan);
        }
        check("apply", &out, &[0]).map(|_| ())
    }

    /// `terraform output -json`: the stack's current outputs.
    ///
    /// # Errors
    /// When Terraform fails, is interrupted, or prints something that is not
    /// JSON.
    pub async fn output_json(
        &self,
        wd: &Workdir,
        interrupt: &Interrupt,
    ) -> Result<serde_json::Value, TerraformError> {
        let out = self
            .command_in(wd)
            .args(["output", "-json", "-no-color"])
            .run(interrupt)
            .await?;
        check("output", &out, &[0])?;
        serde_json::from_slice(&out.stdout).map_err(|source| TerraformError::BadJson {
            command: "output",
            source,
        })
    }
}

fn flag(name: &str, value: impl AsRef<OsStr>) -> OsString {
    let mut s = OsString::from(name);
    s.push(value.as_ref());
    s
}

/// Maps an exit status to success (one of `ok`) or a typed error.
fn check(command: &'static str, out: &Output, ok: &[i32]) -> Result<i32, TerraformError> {
    if out.interrupted {
        return Err(TerraformError::Interrupted { command });
    }
    match out.code() {
        Some(code) if ok.contains(&code) => Ok(code),
        _ => {
            if let Some(lock_info) = lock_info(&out.stderr) {
                return Err(TerraformError::Locked { lock_info });
            }
            Err(TerraformError::Failed {
                command,
                status: process::describe_status(&out.status),
                stderr: indent(&out.stderr_tail(TAIL_LINES)),
            })
        }
    }
}

/// Terraform's own description of a held state lock, if stderr has one.
fn lock_info(stderr: &str) -> Option<String> {
    if !stderr.contains("Error acquiring the state lock") {
        return None;
    }
    let start = stderr
        .find("Lock Info:")
        .or_else(|| stderr.find("Error message:"))?;
    let block: Vec<&str> = stderr[start..]
        .lines()
        .take_while(|l| {
            !l.trim_start()
                .starts_with("Terraform acquires a state lock")
        })
        .collect();
    Some(indent(block.join("\n").trim_end()))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Environment variables strata sets itself, so a user's shell cannot
/// change how Terraform behaves under strata (prompting for input, other
/// arguments, another data dir or workspace).
const CONTROLLED: &[&str] = &[
    "TF_INPUT",
    "TF_IN_AUTOMATION",
    "TF_DATA_DIR",
    "TF_WORKSPACE",
    "TF_PLUGIN_CACHE_DIR",
];

/// The explicit environment for Terraform children: the caller's
/// environment without strata's own `STRATA_*` variables, without the ones
/// strata controls and without `TF_CLI_ARGS*`, plus `TF_IN_AUTOMATION=1`,
/// `TF_INPUT=0`, a shared plugin cache and a CLI config file when the user
/// has none.
pub fn child_env(
    parent: &[(OsString, OsString)],
    plugin_cache: &Path,
    default_cli_config: &Path,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !(k.starts_with("STRATA_")
                || k.starts_with("TF_CLI_ARGS")
                || CONTROLLED.contains(&k.as_ref()))
        })
        .cloned()
        .collect();
    let has = |name: &str| parent.iter().any(|(k, _)| k == name);
    let home_rc = parent
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, home)| Path::new(home).join(".terraformrc").exists())
        .unwrap_or(false);
    if !has("TF_CLI_CONFIG_FILE") && !home_rc {
        env.push(("TF_CLI_CONFIG_FILE".into(), default_cli_config.into()));
    }
    env.push(("TF_IN_AUTOMATION".into(), "1".into()));
    env.push(("TF_INPUT".into(), "0".into()));
    env.push(("TF_PLUGIN_CACHE_DIR".into(), plugin_cache.into()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_info_is_extracted() {
        let stderr = "\nError: Error acquiring the state lock\n\nError message: resource temporarily unavailable\nLock Info:\n  ID:        abc\n  Path:      terraform.tfstate\n  Operation: OperationTypePlan\n  Who:       alice@host\n\nTerraform acquires a state lock to protect the state from being written\nby multiple users at the same time.\n";
        let info = lock_info(stderr).expect("lock info");
        assert!(info.contains("Who:       alice@host"), "{info}");
        assert!(!info.contains("Terraform acquires"), "{info}");
        assert_eq!(lock_info("Error: something else"), None);
    }

    #[test]
    fn child_env_is_explicit() {
        let parent: Vec<(OsString, OsString)> = [
            ("PATH", "/bin"),
            ("HOME", "/nonexistent"),
            ("TF_VAR_region", "eu"),
            ("TF_CLI_ARGS_plan", "-refresh=false"),
            ("TF_INPUT", "1"),
            ("STRATA_STATE_DIR", "/s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let env = child_env(&parent, Path::new("/cache"), Path::new("/cfg"));
        let get = |name: &str| {
            env.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("PATH"), ["/bin"]);
        assert_eq!(get("TF_VAR_region"), ["eu"]);
        assert!(get("TF_CLI_ARGS_plan").is_empty());
        assert!(get("STRATA_STATE_DIR").is_empty());
        assert_eq!(get("TF_INPUT"), ["0"]);
        assert_eq!(get("TF_IN_AUTOMATION"), ["1"]);
        assert_eq!(get("TF_PLUGIN_CACHE_DIR"), ["/cache"]);
        assert_eq!(get("TF_CLI_CONFIG_FILE"), ["/cfg"]);
    }
}
