//! Writes seeded benchmark input: `gen <bundle-id> <records> [seed]` prints JSON Lines facts
//! for `aftersale batch` (bundle ids: car-warranty, eu-legal-guarantee).

use std::io::Write;
use std::process::ExitCode;

use aftersale_benches::{generator, Rng};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bundle), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen <bundle-id> <records> [seed]");
        return ExitCode::from(2);
    };
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(42);
    let Some(make) = generator(bundle) else {
        eprintln!("error: no generator for `{bundle}` (have: car-warranty, eu-legal-guarantee)");
        return ExitCode::from(2);
    };
    let mut rng = Rng::new(seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..n {
        if writeln!(out, "{}", make(&mut rng)).is_err() {
            return ExitCode::SUCCESS; // closed pipe
        }
    }
    if out.flush().is_err() {
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
}
