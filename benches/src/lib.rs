//! Benchmark support for aftersale: a seeded generator of realistic facts for the bundles in
//! `rules/`, and hand-written native Rust implementations to compare the engine against.
//!
//! The generator is deterministic: the same seed gives the same records on every machine,
//! so figures from different runs measure the same work.

pub mod native;

use serde_json::{json, Value};

/// SplitMix64: tiny, fast, and good enough to vary benchmark inputs reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1).max(1);
        lo + i64::try_from(self.next_u64() % span).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: i64) -> bool {
        self.range(0, 99) < percent
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.range(0, items.len() as i64 - 1)).unwrap_or(0);
        items.get(i).copied().unwrap_or("")
    }
}

fn date(days_from_2015: i64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default();
    (base + chrono::Duration::days(days_from_2015))
        .format("%Y-%m-%d")
        .to_string()
}

/// A money amount with two decimals, as a JSON number with exact digits.
fn money(rng: &mut Rng, lo_cents: i64, hi_cents: i64) -> Value {
    let cents = rng.range(lo_cents, hi_cents);
    let text = format!("{}.{:02}", cents / 100, cents % 100);
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Facts of a claim under `rules/car-warranty`: vehicles of every age and mileage, every
/// component, a service history with some services late, and the occasional exclusion.
pub fn car_warranty_claim(rng: &mut Rng) -> Value {
    // In service 2019-02 .. 2025-09, claims by 2026-05-31 (day 4168), so every claim can be
    // judged at any as_of from June 2026 on.
    let in_service = rng.range(1500, 3900);
    let age_days = rng.range(10, 2900).min(4168 - in_service);
    let km_per_year = rng.range(5_000, 45_000);
    let odometer = age_days * km_per_year / 365;
    let mut services = Vec::new();
    let (mut day, mut km) = (0i64, 0i64);
    loop {
        let late = if rng.chance(10) { rng.range(20, 90) } else { 0 };
        let months_gap = 365 + late;
        let km_gap = 15_000
            + if rng.chance(10) {
                rng.range(500, 3_000)
            } else {
                0
            };
        let by_time = day + months_gap;
        let by_km_day = day + km_gap * 365 / km_per_year.max(1);
        let next_day = by_time.min(by_km_day) - rng.range(0, 20);
        if next_day >= age_days {
            break;
        }
        km += (next_day - day) * km_per_year / 365;
        day = next_day;
        services.push(json!({"date": date(in_service + day), "km": km}));
    }
    let component = rng.pick(&[
        "engine",
        "transmission",
        "drivetrain",
        "electrical",
        "body",
        "brakes",
        "suspension",
        "steering",
        "climate",
        "infotainment",
        "fuel_system",
        "exhaust",
        "brake_pads",
        "tyres",
        "wiper_blades",
        "clutch",
    ]);
    json!({
        "in_service_date": date(in_service),
        "owner": if rng.chance(70) { "original" } else { "subsequent" },
        "claim_date": date(in_service + age_days),
        "odometer_km": odometer,
        "component": component,
        "repair_cost": money(rng, 5_000, 800_000),
        "commercial_use": rng.chance(3),
        "misuse": rng.chance(2),
        "genuine_parts": !rng.chance(3),
        "services": services,
    })
}

/// Facts of a claim under `rules/eu-legal-guarantee`.
pub fn eu_legal_guarantee_claim(rng: &mut Rng) -> Value {
    // Deliveries 2021-11 .. 2025-09, defects noticed by 2025-12-31 (day 4017), so every
    // claim can be judged at any as_of from 2026 on.
    let delivery = rng.range(2500, 3900);
    let defect = (delivery + rng.range(0, 1200)).min(4017);
    let mut facts = json!({
        "delivery_date": date(delivery),
        "defect_noticed_on": date(defect),
        "member_state": rng.pick(&["IT", "DE", "FR", "ES", "PT", "SE", "SI", "NL", "AT"]),
        "price": money(rng, 2_000, 300_000),
    });
    if let Value::Object(map) = &mut facts {
        if rng.chance(20) {
            map.insert("repair_possible".into(), json!(false));
            map.insert("value_reduction_share".into(), money(rng, 5, 60));
        }
        if rng.chance(15) {
            map.insert("consumer_proves_defect_at_delivery".into(), json!(true));
        }
    }
    facts
}

/// A ticket with 200 events over several weeks: replies both ways, waits on the customer,
/// notes, resolutions and reopenings, in the order real tickets see them.
pub fn long_ticket() -> serde_json::Value {
    let steps: [(i64, &str); 10] = [
        (37, "customer"),
        (95, "agent"),
        (240, "pause"),
        (600, "unpause"),
        (45, "note"),
        (130, "customer"),
        (70, "agent"),
        (800, "resolve"),
        (1400, "reopen"),
        (20, "customer"),
    ];
    let tz = chrono_tz::Europe::Rome;
    let Ok(mut at) = aftersale_core::DateTime::parse("2025-03-03T09:00:00", tz) else {
        return serde_json::Value::Null;
    };
    let mut events =
        vec![serde_json::json!({"at": at.to_string(), "type": "created", "status": "open"})];
    for (minutes, step) in steps.iter().cycle().take(199) {
        at = at.add_seconds(minutes * 60).unwrap_or(at);
        let t = at.to_string();
        events.push(match *step {
            "customer" => serde_json::json!({"at": t, "type": "reply", "by": "customer"}),
            "agent" => serde_json::json!({"at": t, "type": "reply", "by": "agent"}),
            "pause" => {
                serde_json::json!({"at": t, "type": "status", "status": "waiting_on_customer"})
            }
            "unpause" | "reopen" => {
                serde_json::json!({"at": t, "type": "status", "status": "open"})
            }
            "resolve" => serde_json::json!({"at": t, "type": "status", "status": "resolved"}),
            _ => serde_json::json!({"at": t, "type": "note", "by": "agent"}),
        });
    }
    serde_json::json!({"ticket": {"id": "HD-1", "priority": "normal", "tier": "standard", "region": "eu", "channel": "email", "events": events}})
}

/// The generator for a bundle id, when there is one.
pub fn generator(bundle_id: &str) -> Option<fn(&mut Rng) -> Value> {
    match bundle_id {
        "car-warranty" => Some(car_warranty_claim),
        "eu-legal-guarantee" => Some(eu_legal_guarantee_claim),
        _ => None,
    }
}

/// `n` records for a bundle from `seed`, one JSON object per line.
pub fn jsonl(bundle_id: &str, n: usize, seed: u64) -> Option<String> {
    let make = generator(bundle_id)?;
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(n * 400);
    for _ in 0..n {
        out.push_str(&make(&mut rng).to_string());
        out.push('\n');
    }
    Some(out)
}
