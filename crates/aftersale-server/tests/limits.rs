//! Request limits and error statuses: 413 over the body limit, 400 for a bad request, 422
//! when a term fails, JSON bodies for the router's own errors too.

use std::path::Path;

use aftersale_server::ServerConfig;
use serde_json::json;

use crate::common::{car_claim, post_head_only, rules_dir, status_of, TestServer};

fn tiny_bundle(dir: &Path) {
    let bundle = dir.join("tiny");
    std::fs::create_dir_all(bundle.join("terms")).unwrap();
    std::fs::write(
        bundle.join("contract.toml"),
        "[contract]\nid = \"tiny\"\nversion = \"1\"\n[terms.checked]\n",
    )
    .unwrap();
    std::fs::write(
        bundle.join("terms/checked.rhai"),
        "if facts.n > 10 {\n  throw \"n is too large\";\n}\nfacts.n * 2\n",
    )
    .unwrap();
}

#[test]
fn statuses_for_bad_requests_failed_terms_and_large_bodies() {
    let dir = tempfile::tempdir().unwrap();
    tiny_bundle(dir.path());
    let mut config = ServerConfig::default();
    config.limits.body_limit_bytes = 4096;
    config.limits.max_batch = 2;
    let server = TestServer::start(dir.path(), config);
    let path = "/v1/contracts/tiny/evaluate";

    let (status, body) = server.post(path, &json!({"facts": {"n": 4}, "as_of": "2026-01-01"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"]["checked"], 8);

    let (status, body) = server.post(path, &json!({"facts": {"n": 11}, "as_of": "2026-01-01"}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "evaluation");
    assert_eq!(body["error"]["term"], "checked");
    assert_eq!(body["error"]["position"]["file"], "terms/checked.rhai");
    assert_eq!(body["error"]["position"]["line"], 2);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("n is too large"));

    let (status, metrics) = server.get_text("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "aftersale_evaluation_errors_total{tenant=\"default\",contract=\"tiny\",code=\"evaluation\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("aftersale_http_requests_total{method=\"POST\",route=\"/v1/contracts/{id}/evaluate\",status=\"422\"} 1"),
        "{metrics}"
    );

    let (status, body) = server.post(path, &json!({"facts": [1], "as_of": "2026-01-01"}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_facts"))
    );
    let (status, body) = server.post(path, &json!({"facts": {"n": 1}, "outputs": ["nope"]}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_output"))
    );
    let (status, body) = server.post(path, &json!({"fact": {"n": 1}}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, body) = server.post_raw(path, b"{\"facts\": ".to_vec());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );

    // Over the limit: the head alone (see `post_head_only`).
    let answer = post_head_only(server.addr(), path, 5000);
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");
    let (status, body) = server.post(
        "/v1/contracts/tiny/evaluate-batch",
        &json!([{"facts": {"n": 1}}, {"facts": {"n": 2}}, {"facts": {"n": 3}}]),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("batch_too_large"))
    );

    let (status, body) = server.get("/v1/nothing-here");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let response = server
        .client
        .delete(format!("{}{path}", server.base))
        .send()
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[test]
fn the_default_body_limit_refuses_a_two_mebibyte_body() {
    let server = TestServer::start(&rules_dir(), ServerConfig::default());
    let mut facts = car_claim();
    facts["padding"] = json!("x".repeat(2 << 20));
    let body = json!({"facts": facts, "as_of": "2026-03-01"}).to_string();
    // The head alone, announcing the body: the server answers 413 at once and closes.
    let answer = post_head_only(
        server.addr(),
        "/v1/contracts/car-warranty/evaluate",
        body.len() as u64,
    );
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");
}

#[test]
fn a_request_over_the_timeout_is_answered_408_in_json() {
    let mut config = ServerConfig::default();
    config.limits.request_timeout_ms = 1;
    let server = TestServer::start(&rules_dir(), config);
    // A batch of 200 decisions takes far more than a millisecond.
    let one = json!({"facts": car_claim(), "as_of": "2026-03-01"});
    let batch = serde_json::Value::Array(vec![one; 200]);
    let (status, body) = server.post("/v1/contracts/car-warranty/evaluate-batch", &batch);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (408, Some("timeout")),
        "{body}"
    );
}

/// Issue 13, item 7: request bodies go through the core's conversions, so a duplicate key in
/// the facts, an exponent just over a schema bound and an `as_of` outside years 1..9999 are
/// bad requests, as in the CLI.
#[test]
fn r_duplicate_fact_keys_inexact_exponents_and_far_as_ofs_are_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("share");
    std::fs::create_dir_all(bundle.join("terms")).unwrap();
    std::fs::write(
        bundle.join("contract.toml"),
        "[contract]\nid = \"share\"\nversion = \"1\"\n[facts.share]\ntype = \"decimal\"\nmax = 1\noptional = true\n[terms.x]\n",
    )
    .unwrap();
    std::fs::write(bundle.join("terms/x.rhai"), "1").unwrap();
    let server = TestServer::start(dir.path(), ServerConfig::default());
    let path = "/v1/contracts/share/evaluate";

    let (status, body) = server.post_raw(
        path,
        br#"{"facts": {"share": 0.5, "share": 1}, "as_of": "2026-01-01"}"#.to_vec(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key `share` in `facts`"),
        "{body}"
    );
    let (status, body) = server.post_raw(
        "/v1/contracts/share/evaluate-batch",
        br#"[{"facts": {"a": {"b": 1, "b": 2}}}]"#.to_vec(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("duplicate key `b` in `facts.a`"),
        "{body}"
    );

    let (status, body) = server.post_raw(
        path,
        br#"{"facts": {"share": 1.00000000000000000000000000001e0}, "as_of": "2026-01-01"}"#
            .to_vec(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_facts")),
        "{body}"
    );

    let (status, body) = server.post(path, &json!({"facts": {}, "as_of": "0000-06-01"}));
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("years 1 to 9999"), "{body}");
}
