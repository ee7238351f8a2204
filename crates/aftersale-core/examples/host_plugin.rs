//! A host application adds its own vocabulary without forking the engine: here a `vat`
//! plugin with the VAT rates the host knows, and a custom type that decisions can carry.
//!
//! Run with `cargo run -p aftersale-core --example host_plugin`.

use std::collections::BTreeMap;

use aftersale_core::plugin::Registrar;
use aftersale_core::rhai::EvalAltResult;
use aftersale_core::{BundleSource, Engine, Plugin, PluginContext, Request};
use rust_decimal::Decimal;

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

impl Plugin for VatPlugin {
    fn name(&self) -> &str {
        "vat"
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
        r.register_fn(
            "vat_rate",
            move |country: &str| -> Result<VatRate, Box<EvalAltResult>> {
                match rates.get(country) {
                    Some(rate) => Ok(VatRate {
                        country: country.to_string(),
                        rate: *rate,
                    }),
                    None => Err(format!("no VAT rate for `{country}`").into()),
                }
            },
        )
        .doc(
            "vat_rate(country: string) -> vat_rate",
            "the VAT rate of a country",
        );
        r.register_get("rate", |v: &mut VatRate| v.rate)
            .doc("rate.rate -> decimal", "the rate as a fraction (0.22)");
        r.register_fn("apply", |v: &mut VatRate, net: Decimal| {
            (net * v.rate).round_dp(2)
        })
        .doc(
            "rate.apply(net: decimal) -> decimal",
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
