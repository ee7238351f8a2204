//! Starting a server on a rules folder, copying bundles, and a blocking HTTP client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aftersale_server::{ServeOptions, Server, ServerConfig};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

/// The repository's `rules/` folder.
pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// A server on 127.0.0.1 with a free port, stopped on drop.
pub struct TestServer {
    /// The server, taken on drop.
    pub server: Option<Server>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A blocking client.
    pub client: Client,
    /// The bearer token sent, if any.
    pub token: Option<String>,
}

impl TestServer {
    /// Starts a server on a rules folder.
    pub fn start(rules: &Path, config: ServerConfig) -> Self {
        Self::start_with(rules, config, false)
    }

    /// Starts a server, watching the folder when asked.
    pub fn start_with(rules: &Path, config: ServerConfig, watch: bool) -> Self {
        let server = Server::start(ServeOptions {
            rules: rules.to_path_buf(),
            addr: "127.0.0.1:0".parse().unwrap(),
            config,
            watch,
            workers: Some(2),
        })
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let base = format!("http://{}", server.local_addr());
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            server: Some(server),
            base,
            client,
            token: None,
        }
    }

    /// The same server, sending this bearer token.
    pub fn with_token(&mut self, token: Option<&str>) -> &mut Self {
        self.token = token.map(str::to_string);
        self
    }

    fn auth(&self, builder: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    /// GET, JSON answer.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .auth(self.client.get(format!("{}{path}", self.base)))
            .send()
            .unwrap();
        read(response)
    }

    /// GET, text answer.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .auth(self.client.get(format!("{}{path}", self.base)))
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    }

    /// POST a JSON body, JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap())
    }

    /// POST raw bytes, JSON answer.
    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .auth(
                self.client
                    .post(format!("{}{path}", self.base))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .send()
            .unwrap();
        read(response)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.shutdown();
        }
    }
}

fn read(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    (status, value)
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Copies `rules/<bundle>` to `to`, with its version replaced and effective dates (inclusive)
/// added to its `[contract]` table.
pub fn copy_bundle(
    bundle: &str,
    to: &Path,
    version: &str,
    from: Option<&str>,
    until: Option<&str>,
) {
    copy_dir(&rules_dir().join(bundle), to);
    set_version(to, version, from, until);
}

/// Rewrites a bundle's `version` line (and effective dates).
pub fn set_version(bundle: &Path, version: &str, from: Option<&str>, until: Option<&str>) {
    let path = bundle.join("contract.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut in_contract = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_contract = line.trim() == "[contract]";
        }
        if in_contract && (line.starts_with("effective_from") || line.starts_with("effective_to")) {
            continue;
        }
        if in_contract && line.starts_with("version") {
            out.push_str(&format!("version = \"{version}\"\n"));
            if let Some(f) = from {
                out.push_str(&format!("effective_from = \"{f}\"\n"));
            }
            if let Some(u) = until {
                out.push_str(&format!("effective_to = \"{u}\"\n"));
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
}

/// The `car-warranty` example claim without its claim date (which then defaults to the
/// evaluation date), so that any `as_of` after the repair history fits.
pub fn car_claim() -> Value {
    let mut facts = example_facts("car-warranty");
    if let Some(map) = facts.as_object_mut() {
        map.remove("claim_date");
    }
    facts
}

/// A facts document of `rules/<bundle>/examples/*.json`.
pub fn example_facts(bundle: &str) -> Value {
    let dir = rules_dir().join(bundle).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

/// One raw HTTP exchange on a fresh connection: `text` is sent as is, then everything the
/// server sends until it closes the connection. Fails (instead of hanging) when the server
/// keeps the connection open for 30 s.
pub fn raw_http(addr: std::net::SocketAddr, text: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|e| panic!("the server did not answer and close within 30 s: {e}"));
    String::from_utf8_lossy(&response).into_owned()
}

/// A JSON POST of which only the head is sent, announcing a body of `content_length` bytes,
/// and the server's answer ([`raw_http`]). Tests of a refused body use it: a client still
/// writing a body the server refused may see a broken pipe, or a reset that discards the
/// answer, instead of the answer.
pub fn post_head_only(addr: std::net::SocketAddr, path: &str, content_length: u64) -> String {
    raw_http(
        addr,
        &format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {content_length}\r\nconnection: close\r\n\r\n"),
    )
}

/// The status of a raw HTTP response (0 when there is none).
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The `[[tokens]]` entries of a configuration: (name, secret, role, tenant) each.
pub fn tokens_toml(tokens: &[(&str, &str, &str, &str)]) -> String {
    tokens
        .iter()
        .map(|(name, secret, role, tenant)| {
            format!(
                "[[tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\ntenant = \"{tenant}\"\n",
                aftersale_server::hash_token(secret)
            )
        })
        .collect()
}

/// A bundle `tiny` whose term `checked` doubles `facts.n` (and fails above 10).
pub fn tiny_bundle(bundle: &Path) {
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

/// A bundle `spin` whose one term loops until its time limit: each evaluation takes at
/// least `max_duration_ms` (1 s) of wall-clock time however fast the machine, then fails.
/// Tests hold an evaluation slot with it for a known least time.
pub fn spin_bundle(bundle: &Path) {
    std::fs::create_dir_all(bundle.join("terms")).unwrap();
    std::fs::write(
        bundle.join("contract.toml"),
        "[contract]\nid = \"spin\"\nversion = \"1\"\n[terms.forever]\n[limits]\nmax_operations = 1000000000000\nmax_duration_ms = 1000\n",
    )
    .unwrap();
    std::fs::write(
        bundle.join("terms/forever.rhai"),
        "let n = 0;\nloop {\n  n += 1;\n}\nn\n",
    )
    .unwrap();
}

/// `count` evaluations of `spin` in one batch.
pub fn spin_batch(count: usize) -> Value {
    Value::Array(vec![serde_json::json!({"facts": {}}); count])
}

impl TestServer {
    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    /// Polls `/metrics` until the series `name` (labels included) is at least `least`;
    /// fails after 30 s.
    pub fn wait_for_metric_at_least(&self, name: &str, least: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, text) = self.get_text("/metrics");
            assert_eq!(status, 200, "{text}");
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok());
            if value.is_some_and(|v| v >= least) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{name}` not at least {least} in the metrics after 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/metrics` (with this server's token) until `line` is in it; fails after 30 s.
    pub fn wait_for_metric(&self, line: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, text) = self.get_text("/metrics");
            assert_eq!(status, 200, "{text}");
            if text.lines().any(|l| l == line) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{line}` not in the metrics after 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
