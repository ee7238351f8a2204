//! `aftersale serve` as an operator runs it: it says where it listens, answers HTTP, refuses
//! what it must, and stops cleanly (exit 0) on SIGTERM.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn aftersale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aftersale"))
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_answers_http_and_stops_cleanly_on_sigterm() {
    let mut child = aftersale()
        .current_dir(WORKSPACE)
        .args(["serve", "--rules", "rules", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let (status, body) = http(&addr, "GET", "/healthz", "");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let facts = std::fs::read_to_string(format!(
        "{WORKSPACE}/rules/eu-legal-guarantee/examples/claim.json"
    ))
    .unwrap();
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/contracts/eu-legal-guarantee/evaluate",
        &format!(r#"{{"facts": {facts}, "as_of": "2025-02-01"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""contract":"eu-legal-guarantee""#),
        "{body}"
    );

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // It must stop by itself; the bound only turns a server that never stops into a failure
    // (far above what stopping takes on the busiest machine).
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("still running 300 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("loopback only"), "{stderr}");
    assert!(
        stderr.contains("request_id="),
        "a request's log line carries its id: {stderr}"
    );
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_refuses_a_public_address_without_config_and_hashes_tokens() {
    let out = aftersale()
        .current_dir(WORKSPACE)
        .args(["serve", "--rules", "rules", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));

    let mut child = aftersale()
        .args(["serve", "--hash-token", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
