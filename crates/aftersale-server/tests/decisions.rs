//! The server decides exactly as the library: every test case of every bundle in `rules/`.

use aftersale_core::cases::CaseFiles;
use aftersale_core::{Engine, Request};
use aftersale_server::ServerConfig;
use serde_json::{json, Value};

use crate::common::{car_claim, rules_dir, TestServer};

#[test]
fn decisions_equal_the_librarys_for_every_case_in_rules() {
    let server = TestServer::start(&rules_dir(), ServerConfig::default());
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let mut bundles: Vec<_> = std::fs::read_dir(rules_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("contract.toml").is_file())
        .collect();
    bundles.sort();
    assert!(bundles.len() >= 5, "{bundles:?}");
    let (mut decisions, mut errors) = (0, 0);
    for bundle in &bundles {
        let contract = engine.load_dir(bundle).unwrap();
        for file in CaseFiles::from_dir(bundle).files {
            for located in file.cases.unwrap() {
                let case = located.case;
                let as_of = contract.parse_as_of(&case.as_of).unwrap();
                let mut request = Request::new(Value::Object(case.facts.clone()), as_of);
                request.outputs.clone_from(&case.outputs);
                let expected = contract.evaluate(&request);
                let mut body = json!({
                    "facts": case.facts,
                    "as_of": case.as_of,
                    "version": contract.version(),
                });
                if let Some(outputs) = &case.outputs {
                    body["outputs"] = json!(outputs);
                }
                let (status, got) =
                    server.post(&format!("/v1/contracts/{}/evaluate", contract.id()), &body);
                let what = format!(
                    "{} case `{}` ({})",
                    contract.id(),
                    case.name,
                    located.location
                );
                match expected {
                    Ok(decision) => {
                        assert_eq!(status, 200, "{what}: {got}");
                        assert_eq!(got, serde_json::to_value(&decision).unwrap(), "{what}");
                        decisions += 1;
                    }
                    Err(e) => {
                        let want = if e.is_bad_request() { 400 } else { 422 };
                        assert_eq!(status, want, "{what}: {got}");
                        assert_eq!(got["error"]["code"], e.code(), "{what}");
                        assert_eq!(got["error"]["message"], e.to_string(), "{what}");
                        if let Some(term) = e.term() {
                            assert_eq!(got["error"]["term"], term, "{what}");
                        }
                        if let Some(location) = e.location() {
                            assert_eq!(got["error"]["position"]["file"], location.file.as_str());
                        }
                        errors += 1;
                    }
                }
            }
        }
    }
    assert!(
        decisions > 100 && errors > 0,
        "{decisions} decisions, {errors} errors"
    );
}

#[test]
fn a_batch_answers_each_request_in_order_and_a_trace_on_request() {
    let server = TestServer::start(&rules_dir(), ServerConfig::default());
    let facts = car_claim();
    let (status, one) = server.post(
        "/v1/contracts/car-warranty/evaluate",
        &json!({"facts": facts, "as_of": "2026-03-01", "trace": true}),
    );
    assert_eq!(status, 200, "{one}");
    assert!(
        one["trace"].as_array().is_some_and(|t| !t.is_empty()),
        "{one}"
    );
    let (status, batch) = server.post(
        "/v1/contracts/car-warranty/evaluate-batch",
        &json!([
            {"facts": facts, "as_of": "2026-03-01"},
            {"facts": [1, 2], "as_of": "2026-03-01"},
            {"facts": facts, "as_of": "2026-03-01", "version": "1999.9"},
            {"facts": facts, "as_of": "2026-03-01", "outputs": ["coverage"]},
        ]),
    );
    assert_eq!(status, 200, "{batch}");
    let items = batch.as_array().unwrap();
    assert_eq!(items.len(), 4);
    let mut without_trace = one.clone();
    without_trace.as_object_mut().unwrap().remove("trace");
    assert_eq!(items[0], without_trace);
    assert_eq!(items[1]["error"]["status"], 400, "{}", items[1]);
    assert_eq!(items[2]["error"]["code"], "unknown_version");
    assert_eq!(items[2]["error"]["status"], 404);
    assert!(items[3]["outputs"]["coverage"].is_object(), "{}", items[3]);
}

#[test]
fn contracts_are_listed_described_and_drawn() {
    let server = TestServer::start(&rules_dir(), ServerConfig::default());
    let (status, list) = server.get("/v1/contracts");
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"car-warranty") && ids.contains(&"helpdesk-sla"),
        "{ids:?}"
    );
    let (status, detail) = server.get("/v1/contracts/car-warranty");
    assert_eq!(status, 200);
    let version = &detail["versions"][0];
    assert_eq!(version["timezone"], "Europe/Berlin");
    assert_eq!(version["outputs"], json!(["coverage"]));
    assert!(version["terms"].as_array().unwrap().len() > 5, "{detail}");
    let fields = version["facts_schema"]["fields"].as_array().unwrap();
    assert!(!fields.is_empty(), "{detail}");
    let (_, tiny) = server.get("/v1/contracts/helpdesk-sla");
    assert!(tiny["versions"][0].get("terms").is_some());
    let (status, dot) = server.get_text("/v1/contracts/car-warranty/graph");
    assert_eq!(status, 200);
    assert!(dot.starts_with("digraph \"car-warranty\""), "{dot}");
    let (status, svg) = server.get_text("/v1/contracts/car-warranty/graph?format=svg");
    assert!(
        (status == 200 && svg.contains("<svg"))
            || (status == 501 && svg.contains("graphviz_unavailable")),
        "{status} {svg}"
    );
    let (status, body) = server.get("/v1/contracts/car-warranty/graph?format=png");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_format"))
    );
    let (status, body) = server.get("/v1/contracts/nope");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_contract"))
    );
}
