//! `http_load`: drives `aftersale serve` at a fixed request rate on loopback for a bounded
//! time with seeded `car-warranty` claims, and reports throughput, latency percentiles and
//! errors.
//!
//! ```sh
//! cargo build --release -p aftersale-cli -p aftersale-benches
//! target/release/http_load --serve-bin target/release/aftersale   # starts the server itself
//! target/release/http_load --target http://127.0.0.1:8080          # a server already running
//! target/release/http_load                                          # the server in this process
//! ```
//!
//! Options: `--rate 2000` (requests/s), `--seconds 20`, `--warmup 3` (seconds at the same
//! rate, not counted), `--rules rules`, `--seed 1`, `--max-in-flight 2000`,
//! `--reload-every-ms 0` (`POST /v1/admin/reload` at this period meanwhile; 0: never).
//!
//! `--attack` adds a second client meanwhile, as another tenant: it keeps
//! `--slow-connections 400` connections sending a request head a byte at a time (slowloris;
//! each one closed by the server is opened again), and `--attack-batches 8` concurrent
//! `evaluate-batch` calls of 500 traced requests each, over and over. The server then gets a
//! configuration with two tenants (`victim`, `attacker`, each a copy of `car-warranty`) and
//! tokens, in a temporary folder (not with `--target`); the report gives the first client's
//! figures, then what the attacker got.
//! The load is open-loop: request `i` is due at `start + i / rate` whatever the server does,
//! and its latency runs from that due time to the end of its response, so a slow server
//! cannot hide its queueing by slowing the client down (coordinated omission). The tokio
//! timer ticks every millisecond, so "from due" also holds up to 1 ms of the client's own
//! lateness; "from send" is measured from the moment the request is handed to the client.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftersale_benches::{car_warranty_claim, Rng};
use serde_json::json;

struct Options {
    rate: u64,
    seconds: u64,
    warmup: u64,
    rules: PathBuf,
    seed: u64,
    max_in_flight: usize,
    target: Option<String>,
    serve_bin: Option<PathBuf>,
    reload_every_ms: u64,
    attack: bool,
    slow_connections: usize,
    attack_batches: usize,
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}\nusage: http_load [--target URL | --serve-bin PATH] [--rules DIR] [--rate N] [--seconds N] [--warmup N] [--seed N] [--max-in-flight N] [--reload-every-ms N] [--attack [--slow-connections N] [--attack-batches N]]");
    ExitCode::from(2)
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        rate: 2000,
        seconds: 20,
        warmup: 3,
        rules: PathBuf::from("rules"),
        seed: 1,
        max_in_flight: 2000,
        target: None,
        serve_bin: None,
        reload_every_ms: 0,
        attack: false,
        slow_connections: 400,
        attack_batches: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: `{text}` is not a whole number"))
        };
        match flag.as_str() {
            "--rate" => o.rate = number(value()?)?.max(1),
            "--seconds" => o.seconds = number(value()?)?.max(1),
            "--warmup" => o.warmup = number(value()?)?,
            "--seed" => o.seed = number(value()?)?,
            "--max-in-flight" => {
                o.max_in_flight = usize::try_from(number(value()?)?.max(1)).unwrap_or(usize::MAX);
            }
            "--rules" => o.rules = PathBuf::from(value()?),
            "--reload-every-ms" => o.reload_every_ms = number(value()?)?,
            "--attack" => o.attack = true,
            "--slow-connections" => {
                o.slow_connections = usize::try_from(number(value()?)?).unwrap_or(usize::MAX);
            }
            "--attack-batches" => {
                o.attack_batches = usize::try_from(number(value()?)?).unwrap_or(usize::MAX);
            }
            "--target" => o.target = Some(value()?.trim_end_matches('/').to_string()),
            "--serve-bin" => o.serve_bin = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if o.attack && o.target.is_some() {
        return Err(
            "--attack starts its own server (two tenants and their tokens): not with --target"
                .into(),
        );
    }
    Ok(o)
}

/// The server under load: one already running, a child process, or one in this process.
enum Target {
    Remote,
    Child(Child),
    InProcess(Box<aftersale_server::Server>),
}

/// The tokens of `--attack` mode: the first client's, the attacker's, the operator's (for
/// reloads).
const VICTIM_TOKEN: &str = "victim-token";
const ATTACKER_TOKEN: &str = "attacker-token";
const OPERATOR_TOKEN: &str = "operator-token";

/// For `--attack`: a rules folder with tenants `victim` and `attacker` (each a copy of
/// `car-warranty`) and a configuration with their tokens, in a temporary folder.
fn attack_setup(o: &Options) -> Result<(PathBuf, PathBuf, aftersale_server::ServerConfig), String> {
    let root = std::env::temp_dir().join(format!("http_load-{}", std::process::id()));
    let rules = root.join("rules");
    for tenant in ["victim", "attacker"] {
        copy_dir(
            &o.rules.join("car-warranty"),
            &rules.join(tenant).join("car-warranty"),
        )
        .map_err(|e| format!("cannot copy the car-warranty bundle: {e}"))?;
    }
    let token = |name: &str, secret: &str, role: &str, tenant: &str| {
        format!(
            "[[tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\ntenant = \"{tenant}\"\n",
            aftersale_server::hash_token(secret)
        )
    };
    let text = [
        token("victim", VICTIM_TOKEN, "evaluate", "victim"),
        token("attacker", ATTACKER_TOKEN, "evaluate", "attacker"),
        token("operator", OPERATOR_TOKEN, "admin", "*"),
    ]
    .concat();
    let config_path = root.join("server.toml");
    std::fs::write(&config_path, &text).map_err(|e| format!("cannot write the config: {e}"))?;
    let config =
        aftersale_server::ServerConfig::parse(&config_path, &text).map_err(|e| e.to_string())?;
    Ok((rules, config_path, config))
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn start_target(o: &Options) -> Result<(String, Target), String> {
    if let Some(url) = &o.target {
        return Ok((url.clone(), Target::Remote));
    }
    let (rules, config_path, config) = if o.attack {
        let (rules, path, config) = attack_setup(o)?;
        (rules, Some(path), config)
    } else {
        (
            o.rules.clone(),
            None,
            aftersale_server::ServerConfig::default(),
        )
    };
    if let Some(bin) = &o.serve_bin {
        let mut command = Command::new(bin);
        command
            .args(["serve", "--rules"])
            .arg(&rules)
            .args(["--addr", "127.0.0.1:0"]);
        if let Some(path) = &config_path {
            command.arg("--config").arg(path);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run `{}`: {e}", bin.display()))?;
        // `aftersale serve` prints `listening on http://ADDR` once it serves.
        let line = child
            .stdout
            .take()
            .and_then(|out| std::io::BufReader::new(out).lines().next())
            .and_then(Result::ok)
            .unwrap_or_default();
        return match line.strip_prefix("listening on ") {
            Some(url) => Ok((url.trim().to_string(), Target::Child(child))),
            None => {
                let _ = child.kill();
                Err(format!("the server did not start (said {line:?})"))
            }
        };
    }
    let addr: SocketAddr = "127.0.0.1:0"
        .parse()
        .map_err(|e| format!("bad address: {e}"))?;
    let server = aftersale_server::Server::start(aftersale_server::ServeOptions {
        rules,
        addr,
        config,
        watch: false,
        workers: None,
    })
    .map_err(|e| e.to_string())?;
    Ok((
        format!("http://{}", server.local_addr()),
        Target::InProcess(Box::new(server)),
    ))
}

/// What one phase measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    service_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    max_lag: Duration,
    elapsed: Duration,
}

/// Sends `count` requests at `rate`, open loop.
async fn drive(
    client: reqwest::Client,
    token: Option<&'static str>,
    url: Arc<str>,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: u64,
    count: u64,
    max_in_flight: usize,
) -> Tally {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<(u64, u64), String>>();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let start = tokio::time::Instant::now();
    let mut tally = Tally::default();
    for i in 0..count {
        let due = start + Duration::from_nanos(i.saturating_mul(1_000_000_000) / rate);
        tokio::time::sleep_until(due).await;
        tally.max_lag = tally.max_lag.max(due.elapsed());
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            let _ = tx.send(Err(format!("more than {max_in_flight} requests in flight")));
            continue;
        };
        let body = bodies
            .get(usize::try_from(i).unwrap_or(0) % bodies.len().max(1))
            .cloned()
            .unwrap_or_default();
        let (client, url, tx) = (client.clone(), Arc::clone(&url), tx.clone());
        tokio::spawn(async move {
            let result = async {
                let sent = tokio::time::Instant::now();
                let mut request = client
                    .post(&*url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                let text = response.bytes().await.map_err(|e| e.to_string())?;
                if status.is_success() {
                    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
                    Ok((micros(due.elapsed()), micros(sent.elapsed())))
                } else {
                    Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
                }
            }
            .await;
            drop(permit);
            let _ = tx.send(result);
        });
    }
    drop(tx);
    while let Some(result) = rx.recv().await {
        match result {
            Ok((us, service)) => {
                tally.latencies_us.push(us);
                tally.service_us.push(service);
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
        }
    }
    tally.elapsed = start.elapsed();
    tally
}

/// What the reloads and the attacker got, counted while the first client is measured.
#[derive(Default)]
struct Sideshow {
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    batches: Mutex<BTreeMap<String, u64>>,
    slow_opened: AtomicU64,
    slow_cut: AtomicU64,
}

impl Sideshow {
    fn count_batch(&self, outcome: String) {
        *self
            .batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(outcome)
            .or_insert(0) += 1;
    }
}

/// Reloads every `period` until `stop`.
async fn reload_loop(
    client: reqwest::Client,
    base: Arc<str>,
    token: Option<&'static str>,
    period: Duration,
    stop: Arc<AtomicBool>,
    side: Arc<Sideshow>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut request = client.post(format!("{base}/v1/admin/reload"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let ok = match request.send().await {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        };
        let counter = if ok {
            &side.reloads_ok
        } else {
            &side.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One slowloris connection, opened again each time the server cuts it: a request head
/// sent a byte every 500 ms, never finished.
async fn slow_connection(addr: String, stop: Arc<AtomicBool>, side: Arc<Sideshow>) {
    use tokio::io::AsyncWriteExt;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        side.slow_opened.fetch_add(1, Ordering::Relaxed);
        let head = format!(
            "POST /v1/contracts/car-warranty/evaluate HTTP/1.1\r\nhost: {addr}\r\nx-slow: "
        );
        let mut cut = stream.write_all(head.as_bytes()).await.is_err();
        while !cut && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cut = stream.write_all(b"a").await.is_err();
        }
        if cut {
            side.slow_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Posts large traced batches as the attacker's tenant, over and over, until `stop`.
async fn batch_flood(
    client: reqwest::Client,
    url: Arc<str>,
    body: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    side: Arc<Sideshow>,
) {
    while !stop.load(Ordering::Relaxed) {
        let sent = client
            .post(&*url)
            .bearer_auth(ATTACKER_TOKEN)
            .header("content-type", "application/json")
            .body(body.as_ref().clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status.to_string()
            }
            Err(e) if e.is_timeout() => "client timeout".to_string(),
            Err(_) => "connection error".to_string(),
        };
        if outcome != "200" {
            // Refused (429/503, with Retry-After): wait as told.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        side.count_batch(outcome);
    }
}

/// Runs the reloads and, with `--attack`, the attacker, on a thread and runtime of their
/// own (so they do not delay the first client's schedule), until `stop`.
fn start_sideshow(
    o: &Options,
    base: &str,
    bodies: &[Vec<u8>],
    stop: &Arc<AtomicBool>,
) -> Result<(Arc<Sideshow>, Option<std::thread::JoinHandle<()>>), String> {
    let side = Arc::new(Sideshow::default());
    if o.reload_every_ms == 0 && !o.attack {
        return Ok((side, None));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the attacker's runtime: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build the attacker's client: {e}"))?;
    let base: Arc<str> = base.into();
    let addr = base.trim_start_matches("http://").to_string();
    let batch: Vec<serde_json::Value> = bodies
        .iter()
        .take(500)
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .map(|mut v| {
            v["trace"] = json!(true);
            v
        })
        .collect();
    let batch = Arc::new(serde_json::Value::Array(batch).to_string().into_bytes());
    let (reload_every, attack, slow, batches) = (
        o.reload_every_ms,
        o.attack,
        o.slow_connections,
        o.attack_batches,
    );
    let token = attack.then_some(OPERATOR_TOKEN);
    let (stop, side_out) = (Arc::clone(stop), Arc::clone(&side));
    let handle = std::thread::spawn(move || {
        runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            if reload_every > 0 {
                tasks.spawn(reload_loop(
                    client.clone(),
                    Arc::clone(&base),
                    token,
                    Duration::from_millis(reload_every),
                    Arc::clone(&stop),
                    Arc::clone(&side),
                ));
            }
            if attack {
                for _ in 0..slow {
                    tasks.spawn(slow_connection(
                        addr.clone(),
                        Arc::clone(&stop),
                        Arc::clone(&side),
                    ));
                }
                let url: Arc<str> =
                    format!("{base}/v1/contracts/car-warranty/evaluate-batch").into();
                for _ in 0..batches {
                    tasks.spawn(batch_flood(
                        client.clone(),
                        Arc::clone(&url),
                        Arc::clone(&batch),
                        Arc::clone(&stop),
                        Arc::clone(&side),
                    ));
                }
            }
            while tasks.join_next().await.is_some() {}
        });
    });
    Ok((side_out, Some(handle)))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

fn main() -> ExitCode {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    let (base, target) = match start_target(&o) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut rng = Rng::new(o.seed);
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|_| {
            json!({"facts": car_warranty_claim(&mut rng), "as_of": "2026-06-01"})
                .to_string()
                .into_bytes()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let url: Arc<str> = format!("{base}/v1/contracts/car-warranty/evaluate").into();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the client runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "target {url}; {} req/s for {} s after {} s of warm-up{}{}",
        o.rate,
        o.seconds,
        o.warmup,
        if o.reload_every_ms > 0 {
            format!("; a reload every {} ms", o.reload_every_ms)
        } else {
            String::new()
        },
        if o.attack {
            format!(
                "; attacker: {} slow connections, {} concurrent traced batches of 500",
                o.slow_connections, o.attack_batches
            )
        } else {
            String::new()
        }
    );
    let token = o.attack.then_some(VICTIM_TOKEN);
    let stop = Arc::new(AtomicBool::new(false));
    let wall = Instant::now();
    let tally = runtime.block_on(async {
        if o.warmup > 0 {
            let warm = drive(
                client.clone(),
                token,
                Arc::clone(&url),
                Arc::clone(&bodies),
                o.rate,
                o.rate * o.warmup,
                o.max_in_flight,
            )
            .await;
            if warm.errors > 0 {
                eprintln!(
                    "warm-up: {} errors (first: {})",
                    warm.errors,
                    warm.first_error.unwrap_or_default()
                );
            }
        }
        let side = start_sideshow(&o, &base, &bodies, &stop);
        let tally = drive(
            client,
            token,
            url,
            bodies,
            o.rate,
            o.rate * o.seconds,
            o.max_in_flight,
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        (tally, side)
    });
    drop(runtime);
    let (tally, side) = tally;
    let side = match side {
        Ok((side, handle)) => {
            if let Some(handle) = handle {
                let _ = handle.join();
            }
            Some(side)
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    };
    let mut latencies = tally.latencies_us;
    latencies.sort_unstable();
    let ok = latencies.len() as f64;
    let seconds = tally.elapsed.as_secs_f64();
    println!(
        "requests:    {} ok, {} errors",
        latencies.len(),
        tally.errors
    );
    println!(
        "throughput:  {:.0} req/s ({} s measured, {:.1} s with warm-up)",
        ok / seconds,
        o.seconds,
        wall.elapsed().as_secs_f64()
    );
    println!(
        "from due:    p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        percentile(&latencies, 100.0)
    );
    let mut service = tally.service_us;
    service.sort_unstable();
    println!(
        "from send:   p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&service, 50.0),
        percentile(&service, 90.0),
        percentile(&service, 99.0),
        percentile(&service, 99.9),
        percentile(&service, 100.0)
    );
    println!(
        "client lag:  max {:.2} ms behind schedule",
        tally.max_lag.as_secs_f64() * 1000.0
    );
    if let Some(e) = &tally.first_error {
        println!("first error: {e}");
    }
    let mut reload_failures = 0;
    if let Some(side) = &side {
        reload_failures = side.reloads_failed.load(Ordering::Relaxed);
        if o.reload_every_ms > 0 {
            println!(
                "reloads:     {} ok, {} failed",
                side.reloads_ok.load(Ordering::Relaxed),
                reload_failures
            );
        }
        if o.attack {
            println!(
                "attacker:    {} slow connections opened, {} cut by the server; batches by outcome: {:?}",
                side.slow_opened.load(Ordering::Relaxed),
                side.slow_cut.load(Ordering::Relaxed),
                side.batches
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            );
        }
    }
    if o.attack {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("http_load-{}", std::process::id())),
        );
    }
    match target {
        Target::Remote => {}
        Target::Child(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
        }
        Target::InProcess(server) => {
            let _ = server.shutdown();
        }
    }
    if tally.errors > 0 || reload_failures > 0 || side.is_none() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
