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
            "--seed",
            "1",
        ])
        .args([
            "--faults",
            "next=1,codes=503,verbs=get,path=/api/v1/namespaces/default",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A failing assertion must not leave the server running (it would hold
    // the test harness's output open).
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0 as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let guard = KillOnDrop(child.id());
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

    let request = |method: &str, path: &str, token: &str, body: &str| {
        let host = server.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let get = |token: &str| request("GET", "/api/v1/namespaces/default", token, "");
    // The fault of the command line: the next GET fails once, with the
    // real server's 503 and a Retry-After.
    let injected = get("s3cret");
    assert!(injected.starts_with("HTTP/1.1 503"), "{injected}");
    assert!(injected.contains("retry-after: 1"), "{injected}");
    assert!(
        injected.contains("\"reason\":\"ServiceUnavailable\""),
        "{injected}"
    );
    let ok = get("s3cret");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("\"phase\":\"Active\""), "{ok}");
    // Faults set at run time through the admin endpoint.
    let set = request("PUT", "/kube-sim/faults", "s3cret", "next=1,codes=429");
    assert!(set.starts_with("HTTP/1.1 200"), "{set}");
    assert!(get("s3cret").starts_with("HTTP/1.1 429"));
    assert!(get("s3cret").starts_with("HTTP/1.1 200"));
    let bad = request("PUT", "/kube-sim/faults", "s3cret", "rate=7");
    assert!(
        bad.starts_with("HTTP/1.1 400") && bad.contains("from 0 to 1"),
        "{bad}"
    );
    let denied = get("wrong");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert!(denied.contains("\"reason\":\"Unauthorized\""), "{denied}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    drop(guard);
}
