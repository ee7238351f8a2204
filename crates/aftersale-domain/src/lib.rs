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

use aftersale_core::EngineBuilder;

/// Adds every domain plugin to an engine builder.
pub fn with_domain_plugins(builder: EngineBuilder) -> EngineBuilder {
    builder
        .plugin(calendar::CalendarPlugin)
        .plugin(maintenance::MaintenancePlugin)
        .plugin(sla::SlaPlugin)
        .plugin(warranty::WarrantyPlugin)
}
