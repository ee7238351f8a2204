//! Graceful shutdown: a request in flight when shutdown starts still gets its answer.

use std::time::{Duration, Instant};

use aftersale_server::ServerConfig;
use serde_json::json;

use crate::common::{car_claim, rules_dir, TestServer};

#[test]
fn requests_in_flight_finish_when_the_server_shuts_down() {
    let mut server = TestServer::start(&rules_dir(), ServerConfig::default());
    let one = json!({"facts": car_claim(), "as_of": "2026-03-01"});
    let batch = serde_json::Value::Array(vec![one; 200]);
    let (client, url) = (
        server.client.clone(),
        format!("{}/v1/contracts/car-warranty/evaluate-batch", server.base),
    );
    let in_flight = std::thread::spawn(move || {
        let response = client.post(url).json(&batch).send().unwrap();
        let status = response.status().as_u16();
        let items: serde_json::Value = response.json().unwrap();
        (status, items.as_array().map_or(0, Vec::len))
    });
    // Wait until the batch is being answered (the metrics request itself is the other one).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = server.get_text("/metrics");
        if metrics.contains("aftersale_http_requests_in_flight 2") {
            break;
        }
        assert!(Instant::now() < deadline, "the batch never arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
    server.server.take().unwrap().shutdown().unwrap();
    assert_eq!(in_flight.join().unwrap(), (200, 200));
    // And nothing is served any more.
    assert!(server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .is_err());
}
