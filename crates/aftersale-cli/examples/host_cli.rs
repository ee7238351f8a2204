//! A host's own `aftersale`: every command of the command line (`eval`, `check`, `test`,
//! `batch`, `prop`, `diff`, `serve`, ...) with the domain plugins and one plugin of the
//! host's, here a loyalty scheme that a contract's terms can ask for a customer's tier.
//!
//! ```sh
//! cargo run -p aftersale-cli --example host_cli -- test path/to/bundle
//! ```
//!
//! A bundle names the plugin in `[contract] plugins = ["loyalty"]` and calls
//! `loyalty_tier(facts.points)` in its scripts.

use std::process::ExitCode;

use aftersale_core::plugin::Registrar;
use aftersale_core::{Plugin, PluginContext};

/// Counts each thread's bytes, as the `aftersale` binary does: without it a contract's
/// `[limits] max_memory_bytes` is not enforced.
#[global_allocator]
static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;

/// The host's plugin: loyalty tiers by points.
struct Loyalty;

impl Plugin for Loyalty {
    fn name(&self) -> &str {
        "loyalty"
    }

    fn description(&self) -> &str {
        "the customer loyalty scheme's tiers"
    }

    fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
        r.register_fn("loyalty_tier", |points: i64| -> String {
            let tier = match points {
                p if p >= 5_000 => "gold",
                p if p >= 1_000 => "silver",
                _ => "basic",
            };
            tier.to_string()
        })
        .doc(
            "loyalty_tier(points: int) -> string",
            "the tier a number of loyalty points earns: gold from 5,000, silver from 1,000",
        );
    }
}

fn main() -> ExitCode {
    aftersale_cli::Cli::new().plugin(Loyalty).run()
}
