//! Criterion benchmarks of the domain plugins' arithmetic: business time across a year of a
//! calendar with lunch breaks, holidays and DST changes; and the `helpdesk-sla` decision (every
//! SLA clock and escalation) over a 200-event ticket history, JSON in and out.
//!
//! Run: `cargo bench -p aftersale-benches --bench domain`.

use aftersale_core::{DateTime, Engine, Request};
use aftersale_domain::calendar::{Calendar, CalendarDef, WeeklyHours};
use chrono::TimeDelta;
use criterion::Criterion;

fn office_calendar() -> Option<Calendar> {
    let def = CalendarDef {
        timezone: "Europe/Rome".into(),
        hours: WeeklyHours::weekdays(&["09:00-13:00", "14:00-18:00"]),
        holidays: [
            "2025-01-01",
            "2025-01-06",
            "2025-04-21",
            "2025-04-25",
            "2025-05-01",
            "2025-06-02",
            "2025-08-15",
            "2025-11-01",
            "2025-12-08",
            "2025-12-25",
            "2025-12-26",
        ]
        .iter()
        .map(|d| (*d).to_string())
        .collect(),
    };
    Calendar::new(&def).ok()
}

fn bench_calendar(c: &mut Criterion) {
    let Some(cal) = office_calendar() else { return };
    let tz = chrono_tz::Europe::Rome;
    let (Ok(from), Ok(to)) = (
        DateTime::parse("2025-01-01T08:00:00", tz),
        DateTime::parse("2026-01-01T08:00:00", tz),
    ) else {
        return;
    };
    let mut group = c.benchmark_group("calendar");
    group.bench_function("business_seconds/one-year", |b| {
        b.iter(|| cal.business_seconds(from, to))
    });
    group.bench_function("business_seconds/one-day", |b| {
        let Ok(evening) = DateTime::parse("2025-03-31T17:30:00", tz) else {
            return;
        };
        let Ok(morning) = DateTime::parse("2025-03-31T08:30:00", tz) else {
            return;
        };
        b.iter(|| cal.business_seconds(morning, evening));
    });
    group.bench_function("add_business/2000-hours", |b| {
        b.iter(|| cal.add_business(from, TimeDelta::hours(2000)))
    });
    group.finish();
}

fn bench_sla(c: &mut Criterion) {
    let engine = aftersale_domain::with_domain_plugins(Engine::builder()).build();
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/helpdesk-sla"
    ));
    let Ok(contract) = engine.load_dir(dir) else {
        return;
    };
    let Ok(as_of) = contract.parse_as_of("2025-06-30T12:00:00+02:00") else {
        return;
    };
    let facts = aftersale_benches::long_ticket().to_string();
    c.bench_function("sla/helpdesk-sla/200-events", |b| {
        b.iter(|| {
            let facts: serde_json::Value = serde_json::from_str(&facts).unwrap_or_default();
            match contract.evaluate(&Request::new(facts, as_of)) {
                Ok(d) => serde_json::to_string(&d).unwrap_or_default(),
                Err(e) => e.to_string(),
            }
        });
    });
}

/// The allocator the `aftersale` binary runs with (mimalloc, counting each thread's bytes for
/// `max_memory_bytes`), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_calendar(&mut c);
    bench_sla(&mut c);
    c.final_summary();
}
