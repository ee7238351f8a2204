//! The `warranty` plugin: the arithmetic of warranty terms, so that a contract reads as the
//! business speaks ("3 years or 100,000 km, whichever comes first") and cannot get the
//! month ends, the inclusive limits or the cents wrong.
//!
//! It offers, as pure Rust functions first and rhai functions on top:
//!
//! - **periods** ([`period_end`]): "N days/months/years from delivery" ends on the same date
//!   N later, month ends clamped, the end day covered (DOMAIN.md, Regulation 1182/71);
//! - **coverage windows** ([`CoverageWindow`]): a time limit and meter limits (km, hours,
//!   cycles, any name) linked by "whichever comes first", every limit inclusive, and a check
//!   that says which limit a claim passed;
//! - **money** ([`settle`], [`pro_rata_share`], [`linear_credit`], [`deductible`], [`cap`],
//!   [`remaining_cap`]): exact decimals with explicit rounding (half-even to cents unless the
//!   contract says otherwise); `settle` always splits the whole cost;
//! - **maintenance compliance** ([`maintenance_compliance`]): whether each service due before
//!   a failure was done within the plan's tolerance, for "coverage requires scheduled
//!   maintenance" (an adapter over the `maintenance` plugin's plan, so the two verdicts are
//!   one engine's);
//! - **the EU legal guarantee** ([`legal_guarantee`], [`LegalGuaranteeRules`]): liability and
//!   presumption periods per member state, burden of proof, notice duty, second-hand
//!   agreements (Directive 2019/771), with a contract's own figures where it gives them;
//! - **meter history** ([`meter_at`]): a reading on a given day from a history, for terms
//!   that depend on the state when another term ended.
//!
//! Why this shape: the rules a carmaker signs differ in figures and combinations, not in
//! these mechanics, so the mechanics live here once, tested, and each contract's terms stay
//! short scripts that cite reason codes. Functions take maps with named fields
//! (`coverage_window(#{ start: d, years: 3, km: 100000 })`) because rhai has no named
//! arguments and a contract must stay readable by the people who signed it. Inputs are
//! validated strictly (unknown keys, negative amounts, shares outside 0..1, unsorted tiers are
//! errors, never silently ignored), and every failure is a [`WarrantyError`] whose message
//! becomes the script's runtime error; nothing here panics.

mod error;
mod legal;
mod maintenance;
mod money;
mod period;
mod readings;
mod script;
mod window;

use aftersale_core::plugin::Registrar;
use aftersale_core::{Plugin, PluginContext};

pub use error::WarrantyError;
pub use legal::{legal_guarantee, BurdenOfProof, LegalGuarantee, LegalGuaranteeRules};
pub use maintenance::{
    maintenance_compliance, Compliance, MeterInterval, MissedService, ServicePlan, ServiceRecord,
};
pub use money::{
    cap, deductible, linear_credit, pro_rata_share, pro_rata_share_on, remaining_cap, settle,
    ProRataTier, ProRataTiers, Rounding, RoundingMode, Settlement, SettlementTerms,
};
pub use period::{period_end, Period, PeriodUnit};
pub use readings::{meter_at, MeterReading};
pub use window::{CoverageWindow, LimitReached, MeterLimit, WindowCheck};

/// The `warranty` plugin: coverage periods and windows, claim money, maintenance compliance.
/// Contracts ask for it with `plugins = ["warranty"]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WarrantyPlugin;

impl Plugin for WarrantyPlugin {
    fn name(&self) -> &str {
        "warranty"
    }

    fn description(&self) -> &str {
        "warranty periods, whichever-comes-first coverage windows, deductibles, caps, pro-rata and linear credit, claim settlement, maintenance compliance"
    }

    fn register(&self, engine: &mut Registrar<'_>, _ctx: &PluginContext) {
        script::register(engine);
    }
}
