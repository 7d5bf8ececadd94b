//! The `kube-sim serve` command line, as scripts and benchmarks use it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn serve_writes_a_kubeconfig_answers_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--token",
            "s3cret",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("kube-sim: serving http://127.0.0.1:"),
        "{line}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(config["users"][0]["user"]["token"], "s3cret");
    assert!(line.contains(&server), "{line}");

    let get = |token: &str| {
        let host = server.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "GET /api/v1/namespaces/default HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let ok = get("s3cret");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("\"phase\":\"Active\""), "{ok}");
    let denied = get("wrong");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert!(denied.contains("\"reason\":\"Unauthorized\""), "{denied}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
