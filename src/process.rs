//! Running external programs: one place that sets up the child, reads its
//! output without deadlocking, forwards interrupts and reaps it exactly once.
//!
//! Children run in their own process group, so a Ctrl-C at the terminal does
//! not reach them directly. [`Process::run`] forwards exactly one SIGINT on a
//! graceful stop (Terraform treats a second one as "exit immediately", which
//! can leave a state lock behind) and SIGKILL on a hard stop or when the grace
//! period runs out.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::interrupt::{Interrupt, Level};

/// The children running now, by pid, for [`kill_running`].
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<u32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// SIGKILLs every child still running: the last resort of a hard stop
/// that the process could not carry out in time.
pub fn kill_running() {
    let running = RUNNING.lock().map(|r| r.clone()).unwrap_or_default();
    for pid in running {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// How long a child may take to stop after SIGINT before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A stop was asked for before the child started: nothing new starts
    /// after an interrupt.
    #[error("{program} was not started: interrupted")]
    Interrupted { program: String },
    #[error("could not start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read the output of {program}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write the output of {program} to {}", path.display())]
    Write {
        program: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the child's stdout goes.
#[derive(Debug, Clone)]
enum Stdout {
    Capture,
    File(PathBuf),
}

/// A command to run, with an explicit environment.
#[derive(Debug, Clone)]
pub struct Process {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    stdout: Stdout,
    grace: Duration,
    /// Stopped (as on an interrupt) when it runs longer.
    timeout: Option<Duration>,
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    /// Empty when stdout went to a file.
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// True when the child was stopped because of an interrupt.
    pub interrupted: bool,
    /// True when the child was stopped because it ran past its timeout.
    pub timed_out: bool,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The last `lines` lines of stderr, for error messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        tail(&self.stderr, lines)
    }
}

/// The last `lines` non-empty-trailing lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Describes how a child ended: "exit code 1" or "signal 9".
pub fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "an unknown status".to_owned(),
    }
}

impl Process {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Process {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            stdout: Stdout::Capture,
            grace: DEFAULT_GRACE,
            timeout: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The complete environment of the child; nothing is inherited.
    pub fn envs(mut self, env: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        self.env = env.into_iter().collect();
        self
    }

    /// Sets one variable of the child's environment (after [`Process::envs`]).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
        self
    }

    /// Streams stdout into `path` instead of memory (large plan JSON).
    pub fn stdout_to_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.stdout = Stdout::File(path.into());
        self
    }

    /// Stops the child (SIGINT, then SIGKILL after the grace period) when
    /// it runs longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The command line, for logs and error messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for arg in &self.args {
            let _ = write!(s, " {}", arg.to_string_lossy());
        }
        s
    }

    /// Runs the child to completion. A non-zero exit is not an error here:
    /// callers give exit codes their meaning (`plan -detailed-exitcode`).
    ///
    /// Cancellation: on a graceful interrupt the child receives SIGINT and is
    /// awaited for the grace period, then killed; on a hard interrupt it is
    /// killed at once. Either way this returns the child's [`Output`] with
    /// `interrupted` set, after the child has been reaped.
    ///
    /// Nothing is started once a stop has been asked for: that is
    /// [`ProcessError::Interrupted`].
    ///
    /// # Errors
    /// When the child cannot be started (or must not be, after an
    /// interrupt) or its output cannot be read.
    pub async fn run(&self, interrupt: &Interrupt) -> Result<Output, ProcessError> {
        let program = self.program.display().to_string();
        if interrupt.is_requested() {
            tracing::debug!(command = %self.display(), "not started: interrupted");
            return Err(ProcessError::Interrupted { program });
        }
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        tracing::debug!(command = %self.display(), cwd = ?self.cwd, "running");
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id();
        if let (Some(pid), Ok(mut running)) = (pid, RUNNING.lock()) {
            running.insert(pid);
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let stdout_task = {
            let target = self.stdout.clone();
            let program = program.clone();
            tokio::spawn(async move { read_stdout(stdout, target, program).await })
        };
        let stderr_task = {
            let program = program.clone();
            tokio::spawn(async move { read_stderr(stderr, program).await })
        };

        let mut interrupted = false;
        let mut timed_out = false;
        let deadline = async {
            match self.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let status = tokio::select! {
            status = child.wait() => status,
            () = deadline => {
                timed_out = true;
                tracing::warn!(command = %program, "ran past its timeout of {:?}; stopping it", self.timeout.unwrap_or_default());
                if let Some(pid) = pid {
                    send_sigint(pid);
                }
                tokio::select! {
                    status = child.wait() => status,
                    _ = interrupt.reached(Level::Hard) => kill(&mut child).await,
                    _ = tokio::time::sleep(self.grace) => kill(&mut child).await,
                }
            }
            _ = interrupt.reached(Level::Graceful) => {
                interrupted = true;
                if let Some(pid) = pid {
                    send_sigint(pid);
                }
                tokio::select! {
                    status = child.wait() => status,
                    _ = interrupt.reached(Level::Hard) => kill(&mut child).await,
                    _ = tokio::time::sleep(self.grace) => {
                        tracing::warn!(command = %program, "did not stop within {:?}; killing it", self.grace);
                        kill(&mut child).await
                    }
                }
            }
        }
        .map_err(|source| ProcessError::Io {
            program: program.clone(),
            source,
        });
        if let (Some(pid), Ok(mut running)) = (pid, RUNNING.lock()) {
            running.remove(&pid);
        }
        let status = status?;

        let stdout = join(stdout_task, &program).await??;
        let stderr = join(stderr_task, &program).await??;
        tracing::debug!(command = %program, status = %describe_status(&status), "finished");
        Ok(Output {
            status,
            stdout,
            stderr,
            interrupted,
            timed_out,
        })
    }
}

async fn join<T>(task: tokio::task::JoinHandle<T>, program: &str) -> Result<T, ProcessError> {
    task.await.map_err(|e| ProcessError::Io {
        program: program.to_owned(),
        source: std::io::Error::other(e),
    })
}

async fn kill(child: &mut tokio::process::Child) -> std::io::Result<ExitStatus> {
    child.start_kill()?;
    child.wait().await
}

fn send_sigint(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let Ok(pid) = i32::try_from(pid) else { return };
    if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGINT) {
        tracing::debug!("could not forward SIGINT to {pid}: {e}");
    }
}

async fn read_stdout(
    mut pipe: impl AsyncRead + Unpin,
    target: Stdout,
    program: String,
) -> Result<Vec<u8>, ProcessError> {
    match target {
        Stdout::Capture => {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf)
                .await
                .map_err(|source| ProcessError::Io { program, source })?;
            Ok(buf)
        }
        Stdout::File(path) => {
            let write_err = |source| ProcessError::Write {
                program: program.clone(),
                path: path.clone(),
                source,
            };
            let mut file = tokio::fs::File::create(&path).await.map_err(write_err)?;
            tokio::io::copy(&mut pipe, &mut file)
                .await
                .map_err(write_err)?;
            file.sync_all().await.map_err(write_err)?;
            Ok(Vec::new())
        }
    }
}

async fn read_stderr(
    pipe: impl AsyncRead + Unpin,
    program: String,
) -> Result<String, ProcessError> {
    let mut lines = BufReader::new(pipe).lines();
    let mut all = String::new();
    while let Some(line) = lines.next_line().await.map_err(|source| ProcessError::Io {
        program: program.clone(),
        source,
    })? {
        tracing::debug!(target: "strata::child", "{line}");
        all.push_str(&line);
        all.push('\n');
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_past_its_timeout_is_stopped_and_says_so() {
        let interrupt = crate::interrupt::never();
        let out = Process::new("sleep")
            .arg("30")
            .envs([("PATH".into(), std::env::var_os("PATH").unwrap_or_default())])
            .timeout(Duration::from_millis(100))
            .grace(Duration::from_secs(5))
            .run(&interrupt)
            .await
            .expect("runs");
        assert!(out.timed_out && !out.interrupted, "{out:?}");
        assert!(!out.status.success());

        let quick = Process::new("true")
            .envs([("PATH".into(), std::env::var_os("PATH").unwrap_or_default())])
            .timeout(Duration::from_secs(60))
            .run(&interrupt)
            .await
            .expect("runs");
        assert!(!quick.timed_out && quick.status.success());
    }

    #[tokio::test]
    async fn the_working_directory_is_the_one_given() {
        let dir = tempfile::tempdir().unwrap();
        let out = Process::new("pwd")
            .envs([("PATH".into(), std::env::var_os("PATH").unwrap_or_default())])
            .cwd(dir.path())
            .run(&crate::interrupt::never())
            .await
            .expect("runs");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            std::path::Path::new(printed.trim()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }
}
