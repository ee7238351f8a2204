//! A host application adds its own vocabulary without forking the engine: here a `vat`
//! plugin with the VAT rates the host knows, and a custom type that decisions can carry.
//!
//! Run with `cargo run -p aftersale-core --example host_plugin`.

use std::collections::BTreeMap;

use aftersale_core::plugin::args::{lift, ArgError, At};
use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::Dynamic;
use aftersale_core::{BundleSource, Engine, Plugin, PluginContext, Request};
use rust_decimal::Decimal;

/// The plugin's name, as its argument errors start (`vat: apply.net: expected a number, ..`).
const PLUGIN: &str = "vat";

/// A VAT rate as scripts see it: `vat_rate("IT")` then `rate.apply(net)`.
#[derive(Debug, Clone)]
struct VatRate {
    country: String,
    rate: Decimal,
}

/// The host's plugin: VAT rates by country.
struct VatPlugin {
    rates: BTreeMap<String, Decimal>,
}

/// `vat_rate(country)`: the rate of a country the host knows.
fn rate_of(rates: &BTreeMap<String, Decimal>, country: &Dynamic) -> Result<VatRate, ArgError> {
    let at = At::new(PLUGIN, "vat_rate.country");
    let country: String = at.read(country)?;
    match rates.get(&country) {
        Some(rate) => Ok(VatRate {
            country,
            rate: *rate,
        }),
        None => Err(at.invalid(format!("no VAT rate for `{country}`"))),
    }
}

/// `rate.apply(net)`: the VAT on a net amount (an integer or a decimal), rounded half-even
/// to cents.
fn vat_on(rate: &VatRate, net: &Dynamic) -> Result<Decimal, ArgError> {
    let net: Decimal = At::new(PLUGIN, "apply.net").read(net)?;
    Ok((net * rate.rate).round_dp(2))
}

impl Plugin for VatPlugin {
    fn name(&self) -> &str {
        PLUGIN
    }

    fn description(&self) -> &str {
        "VAT rates by country: vat_rate(country), rate.apply(net), rate.rate"
    }

    fn register(&self, r: &mut Registrar<'_>, _ctx: &PluginContext) {
        let rates = self.rates.clone();
        // The type, with the JSON form decisions and traces show for it.
        r.register_type::<VatRate>("vat_rate", |rate| {
            Ok(serde_json::json!({ "country": rate.country, "rate": aftersale_core::value::decimal_to_json(rate.rate) }))
        });
        // Arguments are read with `plugin::args`, so a wrong one is an error in the one
        // wording every plugin uses (`vat: vat_rate.country: expected a string, found ..`).
        r.register_fn("vat_rate", move |country: Dynamic| {
            lift(rate_of(&rates, &country))
        })
        .doc(
            "vat_rate(country: string) -> vat_rate",
            "the VAT rate of a country",
        );
        r.register_get("rate", |v: &mut VatRate| v.rate)
            .doc("rate.rate -> decimal", "the rate as a fraction (0.22)");
        r.register_fn("apply", |v: &mut VatRate, net: Dynamic| {
            lift(vat_on(v, &net))
        })
        .doc(
            "rate.apply(net: number) -> decimal",
            "the VAT on a net amount, rounded half-even to cents",
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder()
        .plugin(VatPlugin {
            rates: BTreeMap::from([
                ("IT".to_string(), Decimal::new(22, 2)),
                ("DE".to_string(), Decimal::new(19, 2)),
            ]),
        })
        .build();
    let bundle = BundleSource::new("repair-invoice")
        .with_file(
            "contract.toml",
            r#"
[contract]
id = "repair-invoice"
version = "1"
plugins = ["vat"]

[terms.rate]
[terms.invoice]
"#,
        )
        .with_file("terms/rate.rhai", "vat_rate(facts.country)")
        .with_file(
            "terms/invoice.rhai",
            "let vat = terms.rate.apply(facts.labour); #{ net: facts.labour, vat: vat, total: facts.labour + vat, rate: terms.rate }",
        );
    let contract = engine.load(&bundle)?;
    let as_of = contract.parse_as_of("2026-01-15")?;
    let decision = contract.evaluate(&Request::new(
        serde_json::json!({"country": "IT", "labour": 120.50}),
        as_of,
    ))?;
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(())
}
