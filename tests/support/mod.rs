//! Test support: a Git repository builder and a runner for the strata
//! binary with an isolated state directory and the real Terraform.

#![allow(dead_code, reason = "each test module uses a different part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The real tools the suite drives, installed by scripts/setup-tools.sh
/// into `.tools/`. A checkout without them (a plain `cargo test` on a
/// fresh clone) gets one line saying what to run, not a panic per test.
fn tools_dir() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools");
            let needed = [
                "bin/terraform",
                "bin/kubectl",
                "kubernetes-v1.37.0-definitions.json",
            ];
            use std::io::Write as _;
            if let Some(missing) = needed.iter().find(|f| !dir.join(f).exists()) {
                // Straight to the process's stderr: the harness captures
                // eprintln! of a test, and this ends the process.
                let _ = writeln!(
                    std::io::stderr(),
                    "error: {} is missing: the tests drive the real Terraform and kubectl; run scripts/setup-tools.sh once (scripts/test.sh runs it and then the tests)",
                    dir.join(missing).display()
                );
                std::process::exit(1);
            }
            dir
        })
        .clone()
}

/// The Terraform the suite drives, installed by scripts/setup-tools.sh.
pub fn terraform() -> PathBuf {
    tools_dir().join("bin/terraform")
}

/// The real Terraform behind a wrapper that logs every command it is
/// asked to run (`<stack directory name> <subcommand>`, one line each), to
/// count what strata runs. Give [`TerraformCalls::binary`] as
/// `STRATA_TERRAFORM`.
pub struct TerraformCalls {
    dir: tempfile::TempDir,
}

impl TerraformCalls {
    pub fn new() -> TerraformCalls {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("calls.log");
        let script = dir.path().join("terraform");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s %s\\n' \"${{PWD##*/}}\" \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                terraform().display()
            ),
        )
        .expect("write the wrapper");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        TerraformCalls { dir }
    }

    pub fn binary(&self) -> PathBuf {
        self.dir.path().join("terraform")
    }

    /// The commands run since the last call, sorted; clears the log.
    pub fn take(&self) -> Vec<String> {
        let log = self.dir.path().join("calls.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let mut calls: Vec<String> = text.lines().map(ToOwned::to_owned).collect();
        calls.sort();
        calls
    }
}

/// PATH with the suite's real tools (terraform, kubectl) first.
pub fn tools_path() -> std::ffi::OsString {
    let mut paths = vec![tools_dir().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).expect("joinable PATH")
}

/// The kubectl the suite drives, installed by scripts/setup-tools.sh.
pub fn kubectl_binary() -> PathBuf {
    tools_dir().join("bin/kubectl")
}

/// A kube-sim API server (HTTPS, bearer token) for one test, with its
/// kubeconfig, and the real kubectl pointed at it.
pub struct Cluster {
    pub sim: kube_sim::Background,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::with(|_| {})
    }

    /// An emulator with `change` applied to its options.
    pub fn with(change: impl FnOnce(&mut kube_sim::Options)) -> Cluster {
        tools_dir();
        let mut options = kube_sim::Options {
            tls: true,
            token: Some("strata-test-token".to_owned()),
            ready_after: std::time::Duration::from_millis(100),
            ..kube_sim::Options::default()
        };
        change(&mut options);
        let sim = kube_sim::Background::start(options).expect("kube-sim starts");
        let dir = tempfile::tempdir().expect("tempdir");
        sim.sim()
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("kubeconfig");
        Cluster { sim, dir }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs the real kubectl against the emulator.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_in(args, None)
    }

    /// Runs the real kubectl with `stdin`.
    pub fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> Run {
        use std::io::Write;
        let mut child = Command::new(kubectl_binary())
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.kubeconfig())
            // `kubectl diff` runs `diff`.
            .env("PATH", tools_path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl finishes").into()
    }

    /// `kubectl get <args> -o json`, which must succeed.
    pub fn get(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        let run = self.kubectl(&all);
        assert_eq!(run.code, 0, "kubectl {all:?}: {run:?}");
        run.json()
    }

    /// Whether `kubectl get <args>` finds the object.
    pub fn exists(&self, args: &[&str]) -> bool {
        let mut all = vec!["get"];
        all.extend(args);
        let run = self.kubectl(&all);
        if run.code != 0 {
            assert!(
                run.stderr.contains("NotFound") || run.stderr.contains("not found"),
                "kubectl {all:?}: {run:?}"
            );
        }
        run.code == 0
    }
}

/// A webhook receiver on 127.0.0.1: records every POST body; answers 500
/// to the first `fail_first` requests, 200 after.
pub struct Webhook {
    pub url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Webhook {
    pub fn start(fail_first: usize) -> Webhook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let mut requests = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                requests += 1;
                let status = if requests <= fail_first {
                    "500 Internal Server Error"
                } else {
                    seen.lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&body).into_owned());
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Webhook { url, bodies }
    }

    /// The bodies received (and answered 200), as JSON.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .map(|b| serde_json::from_str(b).expect("a JSON body"))
            .collect()
    }
}

/// A kubeconfig in `dir` whose only context, "gone", points at a port
/// nothing listens on.
pub fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        r#"{"apiVersion": "v1", "kind": "Config", "current-context": "gone",
            "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
            "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": "x"}}]}"#,
    )
    .expect("write kubeconfig");
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
        // The identity strata records with approvals.
        repo.git(&["config", "user.name", "Strata Test"]);
        repo.git(&["config", "user.email", "test@strata.dev"]);
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
            .env("PATH", tools_path())
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

    /// `strata <args> --repo <repo>` with Terraform behind `calls`.
    pub fn counted(&self, calls: &TerraformCalls, repo: &Repo, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--repo", repo.path().to_str().expect("utf-8 path")]);
        self.command(&all)
            .env("STRATA_TERRAFORM", calls.binary())
            .output()
            .expect("strata runs")
            .into()
    }

    /// `strata <args> --repo <repo>`.
    pub fn on(&self, repo: &Repo, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        let path = repo.path().to_str().expect("utf-8 path");
        all.extend(["--repo", path]);
        self.run(&all)
    }

    /// `strata <args> --repo <repo> --kubeconfig <cluster's>`.
    pub fn kube(&self, repo: &Repo, cluster: &Cluster, args: &[&str]) -> Run {
        let kubeconfig = cluster.kubeconfig();
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", kubeconfig.to_str().expect("utf-8 path")]);
        self.on(repo, &all)
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

impl Strata {
    /// Starts `strata <args> --repo <repo>` with stderr piped, for tests
    /// that act while it runs.
    pub fn spawn(&self, repo: &Repo, args: &[&str]) -> std::process::Child {
        let mut all = args.to_vec();
        all.extend(["--repo", repo.path().to_str().expect("utf-8 path")]);
        self.command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("strata starts")
    }

    /// The JSON record of run `id`.
    pub fn run_record(&self, id: &str) -> serde_json::Value {
        let path = self.state.path().join("runs").join(id).join("run.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("run.json is JSON")
    }

    /// The saved binary plan of `stack` in run `id`.
    pub fn plan_file(&self, id: &str, stack: &str) -> PathBuf {
        self.state
            .path()
            .join("runs")
            .join(id)
            .join("stacks")
            .join(stack)
            .join("tfplan")
    }

    /// The audit log, one JSON value per line.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let path = self.state.path().join("audit.log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }
}

/// The sha256 of a file, by coreutils' `sha256sum`: an independent check of
/// the hashes strata records.
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_owned()
}

/// A strata command running in a real pseudo-terminal, inside a private
/// tmux server: the test types keys and reads the screen as a person would.
pub struct Terminal {
    socket: String,
    dir: tempfile::TempDir,
}

impl Terminal {
    /// Starts `strata <args> --repo <repo>` in a 150×80 terminal.
    pub fn start(strata: &Strata, repo: &Repo, args: &[&str]) -> Terminal {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = format!(
            "strata-test-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let exit_file = dir.path().join("exit");
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut command = vec![
            "env".to_owned(),
            "-i".to_owned(),
            format!("PATH={}", std::env::var("PATH").unwrap_or_default()),
            format!("HOME={}", strata.home.path().display()),
            format!("STRATA_STATE_DIR={}", strata.state.path().display()),
            format!("STRATA_TERRAFORM={}", terraform().display()),
            "NO_COLOR=1".to_owned(),
            "TERM=xterm".to_owned(),
            env!("CARGO_BIN_EXE_strata").to_owned(),
        ];
        command.extend(args.iter().map(|a| a.to_string()));
        command.extend(["--repo".to_owned(), repo.path().display().to_string()]);
        let line: Vec<String> = command.iter().map(|a| quote(a)).collect();
        // Ctrl-C reaches the whole foreground process group; the shell
        // traps it (children get the default action back) so that it lives
        // to record strata's exit code.
        let script = format!(
            "trap true INT; {}; echo $? > {}; sleep 600",
            line.join(" "),
            quote(&exit_file.display().to_string())
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "150", "-y", "80", "sh", "-c", &script])
            .env("TERM", "xterm")
            .status()
            .expect("tmux is installed (it drives the prompt tests)");
        assert!(status.success(), "tmux new-session failed");
        Terminal { socket, dir }
    }

    /// The screen's text, trailing blank lines removed.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-S", "-"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// Waits (up to two minutes) until the screen shows `text`.
    #[track_caller]
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Types `keys` (tmux key names: "Enter", "C-c", "C-d", or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// Waits for strata to exit; its exit code and the final screen.
    #[track_caller]
    pub fn exit_code(&self) -> (i32, String) {
        let file = self.dir.path().join("exit");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && !text.trim().is_empty()
            {
                return (text.trim().parse().expect("an exit code"), self.screen());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "strata did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Waits (up to 90 s) until a process started by `pid`, or by one of its
/// descendants, has `words` among its arguments: `"plan"` finds
/// `terraform plan -input=false`, `"sleep 60"` both `sh -c "sleep 60"` and
/// the `sleep 60` it runs. The event to wait for before interrupting a
/// step, where a fixed sleep would be too short on a busy machine.
pub fn wait_for_descendant(pid: u32, words: &str) {
    let parent = |p: &str| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces.
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let wanted = format!(" {words} ");
    let found = || {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let descends = std::iter::successors(parent(&name), |p| parent(&p.to_string()))
                    .take(6)
                    .any(|p| p == pid);
                descends
                    && std::fs::read(format!("/proc/{name}/cmdline")).is_ok_and(|c| {
                        let args: Vec<String> = c
                            .split(|b| *b == 0)
                            .map(|a| String::from_utf8_lossy(a).into_owned())
                            .collect();
                        format!(" {} ", args.join(" ")).contains(&wanted)
                    })
            })
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !found() {
        assert!(
            Instant::now() < deadline,
            "no `{words}` process under {pid}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads stderr lines until one is `wanted`; returns what was read.
pub fn read_until(stderr: &mut impl std::io::BufRead, wanted: &str) -> String {
    read_until_line(stderr, wanted, |line| line.trim() == wanted)
}

/// Reads stderr lines until one contains `wanted`; returns what was read.
pub fn read_until_containing(stderr: &mut impl std::io::BufRead, wanted: &str) -> String {
    read_until_line(stderr, wanted, |line| line.contains(wanted))
}

fn read_until_line(
    stderr: &mut impl std::io::BufRead,
    wanted: &str,
    found: impl Fn(&str) -> bool,
) -> String {
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if found(&line) {
            return seen;
        }
        line.clear();
    }
    panic!("never saw {wanted:?} in:\n{seen}");
}

/// A structural check of a Mermaid flowchart as strata writes it: a
/// `flowchart` header; nodes with plain ids, declared once, before use;
/// edges, `classDef` and `class` lines that only name declared nodes.
#[track_caller]
pub fn check_mermaid(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart LR"), "{text}");
    let mut nodes = std::collections::BTreeSet::new();
    let mut classes = std::collections::BTreeSet::new();
    for line in lines {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("classDef ") {
            let (name, style) = rest.split_once(' ').expect("classDef NAME STYLE");
            assert!(style.contains("fill:"), "{line}");
            classes.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("class ") {
            let (ids, name) = rest.split_once(' ').expect("class IDS NAME");
            assert!(classes.contains(name), "class before its classDef: {line}");
            for id in ids.split(',') {
                assert!(nodes.contains(id), "class of an unknown node: {line}");
            }
        } else if let Some((from, _)) = line.split_once(" --") {
            let to = line.rsplit(' ').next().unwrap();
            assert!(nodes.contains(from) && nodes.contains(to), "{line}");
        } else {
            let id = line.split(['[', '(']).next().unwrap();
            assert!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{line}"
            );
            assert!(nodes.insert(id.to_owned()), "declared twice: {line}");
        }
    }
    assert!(!nodes.is_empty(), "{text}");
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A strata process stopped at a pause point (`STRATA_PAUSE_AT`), for
/// tests that interrupt or kill it at an exact place.
pub struct Paused {
    child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    /// stderr up to and including the pause line.
    pub before: String,
}

impl Strata {
    /// Starts `strata <args>` with `STRATA_PAUSE_AT=<point>` and returns
    /// once it has paused there.
    pub fn pause_at(&self, args: &[&str], point: &str) -> Paused {
        let mut child = self
            .command(args)
            .env("STRATA_PAUSE_AT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("strata starts");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let before = read_until(&mut stderr, &format!("strata: paused at {point}"));
        Paused {
            child,
            stderr,
            before,
        }
    }
}

impl Paused {
    /// Sends SIGINT, as Ctrl-C does; returns the exit code and the rest of
    /// stderr.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stderr, &mut rest).expect("stderr");
        (self.child.wait().expect("waits").code(), rest)
    }

    /// SIGKILL for strata and every process it started (Terraform, its
    /// provisioners), as a crash or an OOM kill of the whole tree would.
    pub fn kill_all(mut self) {
        kill_tree(self.child.id());
        let _ = self.child.wait();
    }
}

/// SIGKILLs `pid` and all its descendants (found through /proc: children
/// run in process groups of their own, so a group kill would miss them).
pub fn kill_tree(pid: u32) {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces; ppid follows ')'.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
            parents.push((p, ppid));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    for p in tree {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The status of every run in the state directory.
pub fn run_statuses(state: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.join("runs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let record = e.path().join("run.json");
        if let Ok(text) = std::fs::read_to_string(&record) {
            let json: serde_json::Value = serde_json::from_str(&text).expect("a run record");
            out.push(json["status"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

/// A running `strata watch`, its log in a file.
pub struct Watch {
    pub child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    pub fn start(strata: &Strata, repo: &Repo, cluster: &Cluster, args: &[&str]) -> Watch {
        Watch::start_with(strata, repo, &cluster.kubeconfig(), args, None)
    }

    /// As `start`, with another kubeconfig (another identity), and
    /// Terraform behind `calls` when given.
    pub fn start_with(
        strata: &Strata,
        repo: &Repo,
        kubeconfig: &Path,
        args: &[&str],
        calls: Option<&TerraformCalls>,
    ) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("watch.log");
        let mut all = vec![
            "watch",
            "--repo",
            repo.path().to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ];
        all.extend(args);
        let mut command = strata.command(&all);
        if let Some(calls) = calls {
            command.env("STRATA_TERRAFORM", calls.binary());
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("strata watch starts");
        Watch {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the metrics address the log names: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let log = self.log();
        let addr = log
            .lines()
            .find(|l| l.contains("serving /metrics"))
            .and_then(|l| l.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
            .to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_owned())
    }

    /// The value of metric `series` (name and labels, as exposed); `None`
    /// also before the metrics address is served.
    pub fn metric(&self, series: &str) -> Option<f64> {
        if !self.log().contains("serving /metrics") {
            return None;
        }
        let (_, body) = self.get("/metrics");
        body.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// SIGTERM; the exit code.
    pub fn stop(self) -> (i32, String) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        // Waits for the exit itself on another thread; its log is read
        // there too, before the log's directory goes with the Watch.
        let (exited, exit) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut watch = self;
            let code = watch.child.wait().map(|s| s.code().unwrap_or(-1));
            let _ = exited.send((code, watch.log()));
        });
        match exit.recv_timeout(Duration::from_secs(60)) {
            Ok((code, log)) => (code.expect("waits for watch"), log),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                let log = exit.recv().map(|(_, log)| log).unwrap_or_default();
                panic!("watch did not stop within 60 s of SIGTERM:\n{log}");
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 90 s) until `check` holds.
#[track_caller]
pub fn eventually(watch: &Watch, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "never happened: {what}\nwatch log:\n{}",
            watch.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The entry of `report[list]` (`stacks` or `workloads`) named `name`.
#[track_caller]
pub fn named<'a>(report: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {report:#}"))
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list} of {report:#}"))
}
