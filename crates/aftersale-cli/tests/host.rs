//! A host's own command line ([`aftersale_cli::Cli`] with a plugin of its own): every command
//! sees the host's plugin besides the domain plugins, and the plain command line does not.

use aftersale_cli::{Cli, Status};
use aftersale_core::plugin::Registrar;
use aftersale_core::{Plugin, PluginContext};

use crate::support::{bundle, tempdir, write};

/// The host's plugin: loyalty tiers by points.
struct Loyalty;

impl Plugin for Loyalty {
    fn name(&self) -> &str {
        "loyalty"
    }

    fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
        r.register_fn("loyalty_tier", |points: i64| -> String {
            if points >= 1_000 { "silver" } else { "basic" }.to_string()
        })
        .doc(
            "loyalty_tier(points: int) -> string",
            "the tier points earn",
        );
    }
}

/// A bundle whose term uses the host plugin and a domain plugin, with one case each way.
fn loyalty_bundle(root: &std::path::Path) -> std::path::PathBuf {
    let dir = bundle(
        root,
        "loyal",
        "plugins = [\"loyalty\", \"calendar\"]",
        &[("tier", "loyalty_tier(facts.points)")],
    );
    write(
        &dir.join("tests/tiers.toml"),
        "[[case]]\nname = \"silver\"\nas_of = \"2026-01-01\"\nfacts = { points = 1200 }\nexpect = { tier = \"silver\" }\n\n\
         [[case]]\nname = \"basic\"\nas_of = \"2026-01-01\"\nfacts = { points = 10 }\nexpect = { tier = \"basic\" }\n",
    );
    dir
}

#[test]
fn a_host_plugin_reaches_every_command() {
    let root = tempdir();
    let dir = loyalty_bundle(root.path());
    let cli = Cli::new().plugin(Loyalty);
    let run =
        |args: &[&str]| cli.run_from(std::iter::once("aftersale").chain(args.iter().copied()));
    let dir = dir.to_str().unwrap();
    assert_eq!(run(&["check", dir]), Status::Success);
    assert_eq!(run(&["test", dir]), Status::Success);
    let facts = root.path().join("facts.json");
    write(&facts, r#"{"points": 5}"#);
    let facts = facts.to_str().unwrap();
    assert_eq!(
        run(&["eval", dir, "--facts", facts, "--as-of", "2026-01-01"]),
        Status::Success
    );
}

#[test]
fn without_the_host_plugin_the_bundle_does_not_load() {
    let root = tempdir();
    let dir = loyalty_bundle(root.path());
    let dir = dir.to_str().unwrap();
    assert_eq!(
        Cli::new().run_from(["aftersale", "check", dir]),
        Status::Failed
    );
    // The domain plugins are what `Cli::new` adds: without them `calendar` is unknown too.
    assert_eq!(
        Cli::without_domain_plugins()
            .plugin(Loyalty)
            .run_from(["aftersale", "check", dir]),
        Status::Failed
    );
}

#[test]
fn usage_errors_and_help_end_as_the_binary_does() {
    let cli = Cli::new();
    assert_eq!(
        cli.run_from(["aftersale", "no-such-command"]),
        Status::BadInput
    );
    assert_eq!(cli.run_from(["aftersale", "--version"]), Status::Success);
    assert_eq!(Status::BadInput.code(), 2);
}
