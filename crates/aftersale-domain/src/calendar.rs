//! Business-hours calendars: the `calendar` plugin, and the Rust API ([`Calendar`]) that the
//! SLA clocks build on.
//!
//! This module owns business time: a time zone (IANA name), working windows per weekday
//! (several per day, local times, `[start, end)`), holidays that close whole local days, or
//! 24x7. It follows DOMAIN.md ("SLA clocks and escalation"):
//!
//! - business time is counted in the calendar's local time, so DST changes move the UTC
//!   instants of opening hours, not their local times; a window that contains the skipped or
//!   repeated hour counts the time that really elapses;
//! - a start outside hours counts from the next opening;
//! - a deadline that lands exactly at a window's end stays at that instant (18:00:00).
//!
//! Shape: [`CalendarDef`] is the text form (the same in scripts, `contract.toml` params and
//! JSON); [`Calendar::new`] checks it once, naming the field at fault in a [`CalendarError`],
//! so arithmetic never fails on a bad definition. Arithmetic works on UTC seconds, a local day
//! at a time, and jumps whole weeks with a precomputed weekly total when a week has neither a
//! holiday nor an offset change: its cost grows with the weeks crossed, not the minutes.
//!
//! Scripts get the type `calendar` when the contract names the plugin (`plugins =
//! ["calendar"]`): `calendar(#{..})`, `calendar_24x7(zone)`, `cal.add_business_minutes(start,
//! n)`, `cal.business_minutes(a, b)`, `cal.is_open(t)`, `cal.next_open(t)`, `cal.timezone`.

mod business;
mod definition;
mod error;
mod script;
#[cfg(test)]
mod tests;

use aftersale_core::plugin::Registrar;
use aftersale_core::{Plugin, PluginContext};

pub use business::Calendar;
pub use definition::{CalendarDef, WeeklyHours, MAX_HOLIDAYS, MAX_WINDOWS_PER_DAY, WEEKDAY_KEYS};
pub use error::CalendarError;

/// The `calendar` plugin: the script type `calendar` and business-time arithmetic on it.
#[derive(Debug, Default, Clone, Copy)]
pub struct CalendarPlugin;

impl Plugin for CalendarPlugin {
    fn name(&self) -> &str {
        "calendar"
    }

    fn description(&self) -> &str {
        "business-hours calendars: calendar(#{timezone, hours, holidays}), calendar_24x7(zone), \
         add_business_minutes, business_minutes, is_open, next_open"
    }

    fn register(&self, engine: &mut Registrar<'_>, ctx: &PluginContext) {
        script::register(engine, ctx.timezone);
    }
}
