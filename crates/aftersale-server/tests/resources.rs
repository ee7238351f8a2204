//! The server bounds what a client can hold (issue 13, item 3): connections (header read
//! timeout, connection limit, shutdown past idle connections), evaluations running and
//! waiting (per tenant and overall), batch results in bytes, metric labels, and a
//! `Content-Length` over the limit. Each limit is made small by configuration and its
//! effect observed (a status, a closed connection, a metric), never a duration: the waits
//! are 30 s guards that fail instead of hanging.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use aftersale_server::ServerConfig;
use serde_json::json;

use crate::common::{
    post_head_only, raw_http, spin_batch, spin_bundle, status_of, tiny_bundle, tokens_toml,
    TestServer,
};

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
}

/// Reads until the server closes the connection; fails after 30 s.
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => {}
        // A close with data unread may reset instead: closed all the same.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept the connection open for 30 s: {e}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_slow_request_head_and_an_idle_keep_alive_connection_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    config.resources.header_read_timeout_ms = 1000;
    let server = TestServer::start(dir.path(), config);
    let addr = server.addr();

    // Slowloris: half a request head, then nothing.
    let mut slow = TcpStream::connect(addr).unwrap();
    write!(slow, "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-slow: 1").unwrap();
    let answer = read_until_closed(&mut slow);
    assert_ne!(status_of(&answer), 200, "{answer}");
    // Each on a connection of its own: a kept-alive one would itself be cut when idle.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = raw_http(addr, &get(addr, "/metrics"));
        if metrics.contains("\naftersale_connection_header_timeouts_total 1\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A connection opened and never used.
    let mut silent = TcpStream::connect(addr).unwrap();
    let answer = read_until_closed(&mut silent);
    assert_eq!(status_of(&answer), 0, "{answer}");

    // Kept alive after an answer, then idle.
    let mut idle = TcpStream::connect(addr).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
    let answer = read_until_closed(&mut idle);
    assert_eq!(status_of(&answer), 200, "{answer}");

    // The server still answers.
    let answer = raw_http(addr, &get(addr, "/healthz"));
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[test]
fn at_the_limit_a_new_client_pushes_out_the_oldest_connection_that_sent_nothing() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    config.resources.max_connections = 8;
    config.resources.header_read_timeout_ms = 60_000;
    let server = TestServer::start(dir.path(), config);
    let addr = server.addr();

    // A client holds every connection, half-open (no request sent), and opens as many more:
    // each pushes out the oldest of its own.
    let mut held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut more: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for stream in &mut held {
        assert_eq!(read_until_closed(stream), "");
    }
    // A new client is served, in place of the oldest silent connection.
    let answer = raw_http(addr, &get(addr, "/healthz"));
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(read_until_closed(&mut more[0]), "");
    // At least: the client asking for the metrics may push out one more.
    server.wait_for_metric_at_least("aftersale_connections_evicted_total", 9);
}

#[test]
fn at_the_limit_with_every_connection_in_use_a_new_one_is_answered_503() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    config.resources.max_connections = 8;
    config.resources.header_read_timeout_ms = 60_000;
    let server = TestServer::start(dir.path(), config);
    let addr = server.addr();

    // Every connection has sent a request and is kept alive.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
            stream
        })
        .collect();
    // Each further one is answered at once: 503 with Retry-After, closed.
    for _ in 0..20 {
        let answer = raw_http(addr, &get(addr, "/healthz"));
        assert_eq!(status_of(&answer), 503, "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nretry-after: 1\r\n"),
            "{answer}"
        );
        assert!(answer.contains("max_connections"), "{answer}");
    }
    drop(held);
    // Once they are closed the server serves again (each try on a connection of its own,
    // answered 503 until the server has seen them close).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let answer = raw_http(addr, &get(addr, "/metrics"));
        if status_of(&answer) == 200 {
            break answer;
        }
        assert_eq!(status_of(&answer), 503, "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "still refused 30 s after the connections closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("aftersale_rejections_total{reason=\"connections\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refusals counted: {metrics}"));
    assert!(refused >= 20, "{metrics}");
    assert!(
        metrics.contains("\naftersale_connections_open "),
        "{metrics}"
    );
    assert!(
        metrics.contains("\naftersale_connections_evicted_total 0\n"),
        "{metrics}"
    );
}

#[test]
fn shutdown_does_not_wait_on_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    // Far beyond the 30 s guard below: a shutdown waiting on the idle connections would
    // wait the whole grace period (the request timeout and a second).
    config.limits.request_timeout_ms = 120_000;
    config.resources.header_read_timeout_ms = 120_000;
    let mut server = TestServer::start(dir.path(), config);
    let addr = server.addr();
    let mut kept_alive = TcpStream::connect(addr).unwrap();
    write!(kept_alive, "GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    kept_alive.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut never_used = TcpStream::connect(addr).unwrap();
    let mut half_a_head = TcpStream::connect(addr).unwrap();
    write!(half_a_head, "GET /healthz HTTP/1.1\r\nhost: {addr}\r\n").unwrap();
    // The three, and the client's own connection asking for the metrics.
    server.wait_for_metric_at_least("aftersale_connections_open", 4);

    let running = server.server.take().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(running.shutdown().is_ok());
    });
    let ended = finished.recv_timeout(Duration::from_secs(30));
    assert_eq!(
        ended,
        Ok(true),
        "shutdown still waiting on idle connections after 30 s"
    );
    read_until_closed(&mut kept_alive);
    assert_eq!(read_until_closed(&mut never_used), "");
    read_until_closed(&mut half_a_head);
}

#[test]
fn a_content_length_over_the_limit_is_refused_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    config.limits.body_limit_bytes = 4096;
    // A server waiting for the body would answer 408 only after this.
    config.limits.request_timeout_ms = 120_000;
    let server = TestServer::start(dir.path(), config);
    // The head only: the body announced is never sent.
    let answer = post_head_only(server.addr(), "/v1/contracts/tiny/evaluate", 10_000_000_000);
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");
    server.wait_for_metric("aftersale_rejections_total{reason=\"body_too_large\"} 1");
}

#[test]
fn metric_labels_never_take_the_requests_text() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let server = TestServer::start(dir.path(), ServerConfig::default());
    let addr = server.addr();
    for i in 0..50 {
        let answer = raw_http(
            addr,
            &format!("BREW{i} /healthz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"),
        );
        assert_eq!(status_of(&answer), 405, "{answer}");
        let answer = raw_http(addr, &get(addr, &format!("/no/such/path/{i}")));
        assert_eq!(status_of(&answer), 404, "{answer}");
    }
    let (_, metrics) = server.get_text("/metrics");
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(!metrics.contains("/no/such/path"), "{metrics}");
    assert!(
        metrics.contains(
            "aftersale_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 50"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "aftersale_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 50"
        ),
        "{metrics}"
    );
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("aftersale_http_requests_total{"))
        .count();
    assert!(series <= 4, "{metrics}");
}

/// Tenants `acme`, `globex` and `initech`, each with an evaluate token, `acme` and `globex`
/// with the `spin` contract too; an operator's token for the metrics.
fn three_tenants(dir: &Path, limits: &str) -> ServerConfig {
    for tenant in ["acme", "globex", "initech"] {
        tiny_bundle(&dir.join(tenant).join("tiny"));
    }
    spin_bundle(&dir.join("acme/spin"));
    spin_bundle(&dir.join("globex/spin"));
    let text = format!(
        "{limits}\n{}",
        tokens_toml(&[
            ("acme-app", "acme-secret", "evaluate", "acme"),
            ("globex-app", "globex-secret", "evaluate", "globex"),
            ("initech-app", "initech-secret", "evaluate", "initech"),
            ("operator", "operator-secret", "admin", "*"),
        ])
    );
    ServerConfig::parse(Path::new("server.toml"), &text).unwrap()
}

/// Starts a `spin` batch of `count` in a thread: its status and item count when it ends.
fn spin_in_background(
    server: &TestServer,
    token: &str,
    count: usize,
) -> std::thread::JoinHandle<(u16, usize)> {
    let client = server.client.clone();
    let url = format!("{}/v1/contracts/spin/evaluate-batch", server.base);
    let token = token.to_string();
    std::thread::spawn(move || {
        let response = client
            .post(url)
            .bearer_auth(token)
            .json(&spin_batch(count))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap();
        (status, body.as_array().map_or(0, Vec::len))
    })
}

fn evaluate_tiny(server: &TestServer, token: &str) -> reqwest::blocking::Response {
    server
        .client
        .post(format!("{}/v1/contracts/tiny/evaluate", server.base))
        .bearer_auth(token)
        .json(&json!({"facts": {"n": 2}}))
        .send()
        .unwrap()
}

#[test]
fn a_tenant_over_its_share_gets_429_others_are_served_and_a_full_server_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let config = three_tenants(
        dir.path(),
        "[server]\nrequest_timeout_ms = 120000\n[limits]\nmax_running = 2\nmax_queued = 0\nmax_running_per_tenant = 1\nmax_queued_per_tenant = 0\n",
    );
    let mut server = TestServer::start(dir.path(), config);
    server.with_token(Some("operator-secret"));
    // Each item takes at least a second: the slot is held for at least 12 s.
    let acme_spin = spin_in_background(&server, "acme-secret", 12);
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"acme\"} 1");

    // acme is at its share: refused at once, with Retry-After.
    let response = evaluate_tiny(&server, "acme-secret");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    // Another tenant is served meanwhile.
    let response = evaluate_tiny(&server, "globex-secret");
    assert_eq!(response.status(), 200);

    // With globex spinning too, the server is full: a third tenant gets 503.
    let globex_spin = spin_in_background(&server, "globex-secret", 12);
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"globex\"} 1");
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"acme\"} 1");
    let response = evaluate_tiny(&server, "initech-secret");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");

    let metrics = server.wait_for_metric(
        "aftersale_evaluations_rejected_total{tenant=\"acme\",reason=\"tenant_busy\"} 1",
    );
    assert!(
        metrics.contains(
            "aftersale_evaluations_rejected_total{tenant=\"initech\",reason=\"overloaded\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("\naftersale_evaluations_queued{tenant=\"acme\"} 0\n"),
        "{metrics}"
    );
    assert_eq!(acme_spin.join().unwrap(), (200, 12));
    assert_eq!(globex_spin.join().unwrap(), (200, 12));
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"acme\"} 0");
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"globex\"} 0");
}

#[test]
fn a_batch_whose_request_timed_out_stops_and_gives_its_slot_back() {
    let dir = tempfile::tempdir().unwrap();
    spin_bundle(&dir.path().join("spin"));
    let mut config = ServerConfig::default();
    config.limits.request_timeout_ms = 2000;
    config.limits.max_batch = 1000;
    let server = TestServer::start(dir.path(), config);
    // 200 items of at least a second each: it would run for 200 s if nothing stopped it.
    let (status, body) = server.post("/v1/contracts/spin/evaluate-batch", &spin_batch(200));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (408, Some("timeout"))
    );
    // Stopped at its next item: the slot is free long before the batch could have ended.
    server.wait_for_metric("aftersale_evaluations_running{tenant=\"default\"} 0");
}

#[test]
fn batch_results_beyond_the_bytes_limit_are_refused_503() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let mut config = ServerConfig::default();
    config.resources.max_batch_inflight_bytes = 2048;
    let server = TestServer::start(dir.path(), config);
    let item = json!({"facts": {"n": 3}, "as_of": "2026-01-01", "trace": true});
    let (status, body) = server.post("/v1/contracts/tiny/evaluate-batch", &json!([item]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["outputs"]["checked"], 6);
    let response = server
        .client
        .post(format!("{}/v1/contracts/tiny/evaluate-batch", server.base))
        .json(&serde_json::Value::Array(vec![item; 100]))
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_batch_inflight_bytes"),
        "{body}"
    );
    let metrics = server.wait_for_metric(
        "aftersale_evaluations_rejected_total{tenant=\"default\",reason=\"batch_memory\"} 1",
    );
    assert!(
        metrics.contains("\naftersale_batch_inflight_bytes 0\n"),
        "{metrics}"
    );
}
