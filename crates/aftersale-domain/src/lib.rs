//! # aftersale-domain
//!
//! The after-sales vocabulary that every business otherwise re-implements, badly, in each
//! script: business-hours calendars, SLA clocks, maintenance plans and warranty periods, as
//! plugins implemented in Rust.
//! Each plugin is one module and implements [`aftersale_core::Plugin`] exactly as a
//! customer's own plugin would; a contract asks for one by name in `plugins = [...]`.
//! The semantics follow `shared/DOMAIN.md`.

pub mod calendar;
pub mod maintenance;
pub mod sla;
pub mod warranty;

use aftersale_core::rhai::Dynamic;
use aftersale_core::{Date, DateTime, EngineBuilder};

/// Names a script value in an error message the way a contract author reads it (`the integer
/// 5`, `a map`, `the date 2025-02-28`), for the plugins' "expected ..., got ..." errors.
pub(crate) fn describe(value: &Dynamic) -> String {
    if value.is_unit() {
        "()".into()
    } else if let Ok(i) = value.as_int() {
        format!("the integer {i}")
    } else if let Ok(d) = value.as_decimal() {
        format!("the decimal {d}")
    } else if value.is_string() {
        format!("the string \"{value}\"")
    } else if value.is_map() {
        "a map".into()
    } else if value.is_array() {
        "an array".into()
    } else if let Ok(b) = value.as_bool() {
        format!("{b}")
    } else if value.is::<Date>() {
        format!("the date {value}")
    } else if value.is::<DateTime>() {
        format!("the datetime {value}")
    } else if value.is::<calendar::Calendar>() {
        "a calendar".into()
    } else {
        format!("a value of type `{}`", value.type_name())
    }
}

/// Adds every domain plugin to an engine builder.
pub fn with_domain_plugins(builder: EngineBuilder) -> EngineBuilder {
    builder
        .plugin(calendar::CalendarPlugin)
        .plugin(maintenance::MaintenancePlugin)
        .plugin(sla::SlaPlugin)
        .plugin(warranty::WarrantyPlugin)
}
