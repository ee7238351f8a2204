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
//! rate, not counted), `--rules rules`, `--seed 1`, `--max-in-flight 2000`.
//! The load is open-loop: request `i` is due at `start + i / rate` whatever the server does,
//! and its latency runs from that due time to the end of its response, so a slow server
//! cannot hide its queueing by slowing the client down (coordinated omission). The tokio
//! timer ticks every millisecond, so "from due" also holds up to 1 ms of the client's own
//! lateness; "from send" is measured from the moment the request is handed to the client.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
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
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}\nusage: http_load [--target URL | --serve-bin PATH] [--rules DIR] [--rate N] [--seconds N] [--warmup N] [--seed N] [--max-in-flight N]");
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
            "--target" => o.target = Some(value()?.trim_end_matches('/').to_string()),
            "--serve-bin" => o.serve_bin = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// The server under load: one already running, a child process, or one in this process.
enum Target {
    Remote,
    Child(Child),
    InProcess(Box<aftersale_server::Server>),
}

fn start_target(o: &Options) -> Result<(String, Target), String> {
    if let Some(url) = &o.target {
        return Ok((url.clone(), Target::Remote));
    }
    if let Some(bin) = &o.serve_bin {
        let mut child = Command::new(bin)
            .args(["serve", "--rules"])
            .arg(&o.rules)
            .args(["--addr", "127.0.0.1:0"])
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
        rules: o.rules.clone(),
        addr,
        config: aftersale_server::ServerConfig::default(),
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
                let response = client
                    .post(&*url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
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
        "target {url}; {} req/s for {} s after {} s of warm-up",
        o.rate, o.seconds, o.warmup
    );
    let wall = Instant::now();
    let tally = runtime.block_on(async {
        if o.warmup > 0 {
            let warm = drive(
                client.clone(),
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
        drive(
            client,
            url,
            bodies,
            o.rate,
            o.rate * o.seconds,
            o.max_in_flight,
        )
        .await
    });
    drop(runtime);
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
    if tally.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
