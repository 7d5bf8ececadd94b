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

/// A plain HTTP answer: status, Content-Type and body.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Cluster {
    /// One HTTP/1.1 request to the emulator (no TLS, its token if any),
    /// with this Accept and an optional JSON body. A streamed answer
    /// (chunked, e.g. a watch) is read up to its headers only.
    pub fn http(&self, method: &str, path: &str, accept: &str, json_body: Option<&str>) -> Http {
        use std::io::{BufRead, BufReader, Read, Write};
        let addr = self.sim.sim().addr();
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let body = json_body.unwrap_or("");
        let auth = self
            .sim
            .sim()
            .token()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Accept: {accept}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let (mut content_type, mut length) = (String::new(), None);
        loop {
            line.clear();
            reader.read_line(&mut line).expect("a header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').expect("name: value");
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = value.trim().to_owned(),
                "content-length" => length = value.trim().parse::<usize>().ok(),
                _ => {}
            }
        }
        let mut body = vec![0; length.unwrap_or(0)];
        reader.read_exact(&mut body).expect("the body");
        Http {
            status,
            content_type,
            body,
        }
    }
}

/// A namespaced CRD, `widgets.example.com`, with printer columns (SIZE,
/// COLOR, PHASE, AGE, and OWNER with `-o wide`).
pub const WIDGETS_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    - {name: Owner, type: string, jsonPath: .spec.owner, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}, color: {type: string}, owner: {type: string}}}
          status: {type: object, properties: {phase: {type: string}}}
"#;
