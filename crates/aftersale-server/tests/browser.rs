//! The loopback server without configuration resists browser attacks (issue 13, item 8): a
//! request with another site's `Origin` is refused (cross-site requests), and so is one
//! whose `Host` is not the server's own loopback address (DNS rebinding). Requests without
//! `Origin`, as curl and backends send them, are served.

use std::path::Path;

use aftersale_server::ServerConfig;

use crate::common::{raw_http, status_of, tiny_bundle, tokens_toml, TestServer};

fn request(method: &str, path: &str, host: &str, origin: Option<&str>) -> String {
    let body = r#"{"facts": {"n": 2}}"#;
    let origin = origin.map_or_else(String::new, |o| format!("origin: {o}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\n{origin}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn without_config_foreign_origins_and_hosts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("tiny"));
    let server = TestServer::start(dir.path(), ServerConfig::default());
    let addr = server.addr();
    let port = addr.port();
    let own = format!("127.0.0.1:{port}");
    let evaluate = "/v1/contracts/tiny/evaluate";

    // As curl sends it: served.
    let answer = raw_http(addr, &request("POST", evaluate, &own, None));
    assert_eq!(status_of(&answer), 200, "{answer}");
    // From the server's own origin, under each loopback name: served.
    for host in [
        own.clone(),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let origin = format!("http://{host}");
        let answer = raw_http(addr, &request("POST", evaluate, &host, Some(&origin)));
        assert_eq!(status_of(&answer), 200, "{host}: {answer}");
    }

    // Another site's page posting to it: refused, on every endpoint.
    for (method, path) in [
        ("POST", evaluate),
        ("POST", "/v1/contracts/tiny/evaluate-batch"),
        ("POST", "/v1/admin/reload"),
        ("GET", "/v1/contracts"),
        ("GET", "/metrics"),
    ] {
        for origin in [
            "http://evil.example",
            "null",
            &format!("https://127.0.0.1:{port}"),
            &format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        ] {
            let answer = raw_http(addr, &request(method, path, &own, Some(origin)));
            assert_eq!(
                status_of(&answer),
                403,
                "{method} {path} from {origin}: {answer}"
            );
            assert!(answer.contains("\"code\":\"forbidden_origin\""), "{answer}");
            assert!(answer.contains(&format!("origin `{origin}`")), "{answer}");
        }
    }

    // DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own name as Host.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_string(),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        let answer = raw_http(addr, &request("POST", evaluate, &host, None));
        assert_eq!(status_of(&answer), 403, "{host}: {answer}");
        assert!(answer.contains("\"code\":\"forbidden_host\""), "{answer}");
    }

    let (_, metrics) = server.get_text("/metrics");
    assert!(
        metrics.contains("aftersale_rejections_total{reason=\"forbidden_origin\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aftersale_rejections_total{reason=\"forbidden_host\"} 5"),
        "{metrics}"
    );
}

#[test]
fn with_a_config_file_tokens_guard_instead() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(&dir.path().join("acme/tiny"));
    let config = ServerConfig::parse(
        Path::new("server.toml"),
        &tokens_toml(&[("acme-app", "acme-secret", "evaluate", "acme")]),
    )
    .unwrap();
    let server = TestServer::start(dir.path(), config);
    let addr = server.addr();
    let answer = raw_http(
        addr,
        &request(
            "GET",
            "/healthz",
            "api.example:443",
            Some("https://app.example"),
        ),
    );
    assert_eq!(status_of(&answer), 200, "{answer}");
}
