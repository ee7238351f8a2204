//! Maintenance compliance for warranty terms ("coverage requires scheduled maintenance"):
//! whether each service due before a failure was done within the plan's tolerance.
//!
//! This is a thin adapter over the `maintenance` plugin's engine ([`crate::maintenance::Plan`]),
//! so the warranty verdict and the maintenance verdict cannot drift apart: a [`ServicePlan`] is
//! a maintenance plan of one task, every period or meter interval whichever comes first,
//! anchored on the last completion with a shift factor of 1. The rules are that engine's
//! (see [`crate::maintenance`]): a service early on a counter restarts it from the service;
//! lateness inside the tolerance does not move the plan (the next due point is the missed one
//! plus an interval); a service late beyond the tolerance is recorded as missed, still counts
//! as done, and the next one is due from it. What stays here is the warranty's own input
//! contract (a plan of at most one meter, service records checked against the failure, with
//! the warranty's error texts) and the shape of its answer.

use aftersale_core::Date;
use rust_decimal::Decimal;

use super::error::{non_negative, WarrantyError};
use super::period::Period;
use crate::maintenance::{
    Completion, Counters, MaintenanceError, Meters, Plan, Reading, Span, Status, Task,
};

/// The name of the one task of the maintenance plan behind a [`ServicePlan`].
const TASK: &str = "service";

/// The meter part of a service plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterInterval {
    /// The meter's name (`km`, `hours`, ...), as in the service records.
    pub unit: String,
    /// A service is due every this many units; above zero.
    pub every: Decimal,
    /// How far past the due reading a service is still on time; zero or more.
    pub tolerance: Decimal,
    /// The meter's reading when the plan starts (0 for a new vehicle).
    pub at_start: Decimal,
}

/// A service plan: every period or every meter interval, whichever comes first, from the last
/// service (the first from `start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    meter: Option<MeterInterval>,
    /// The same plan as the maintenance engine runs it.
    plan: Plan,
}

/// One service done: its date and, for a plan with a meter, the reading then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The day the service was done.
    pub date: Date,
    /// The meter reading at the service, if the plan has a meter.
    pub reading: Option<Decimal>,
}

/// A service that was due and not done on time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedService {
    /// The date it fell due, if the plan has a period.
    pub due_on: Option<Date>,
    /// The last day it was on time (due date plus tolerance).
    pub deadline_on: Option<Date>,
    /// The reading at which it fell due, if the plan has a meter.
    pub due_reading: Option<Decimal>,
    /// The last reading at which it was on time.
    pub deadline_reading: Option<Decimal>,
    /// When it was done late, or `None` when it was not done before the failure.
    pub done_on: Option<Date>,
    /// The reading when it was done late.
    pub done_reading: Option<Decimal>,
    /// Past the time deadline.
    pub late_by_time: bool,
    /// Past the meter deadline.
    pub late_by_meter: bool,
}

impl MissedService {
    /// `late` (done after the tolerance) or `not_done` (not done before the failure).
    pub fn reason(&self) -> &'static str {
        if self.done_on.is_some() {
            "late"
        } else {
            "not_done"
        }
    }
}

/// The answer of [`maintenance_compliance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compliance {
    /// Every service due up to the failure that was late or not done, in order.
    pub missed: Vec<MissedService>,
    /// How many service records up to the failure were considered.
    pub services_counted: usize,
    /// When the service after the last one counted falls due.
    pub next_due_on: Option<Date>,
    /// At which reading it falls due.
    pub next_due_reading: Option<Decimal>,
}

impl Compliance {
    /// Whether every service due before the failure was done within tolerance.
    pub fn compliant(&self) -> bool {
        self.missed.is_empty()
    }
}

impl ServicePlan {
    /// A plan from `start`. `every` and `meter` are linked by "whichever comes first"; at
    /// least one is required. `time_tolerance` needs `every`.
    pub fn new(
        start: Date,
        every: Option<Period>,
        time_tolerance: Option<Period>,
        meter: Option<MeterInterval>,
    ) -> Result<Self, WarrantyError> {
        if every.is_none() && meter.is_none() {
            return Err(WarrantyError::invalid(
                "maintenance plan",
                "give an interval in time (days, months or years), in a meter (e.g. km), or both",
            ));
        }
        if every.is_some_and(|p| p.count == 0) {
            return Err(WarrantyError::invalid(
                "maintenance plan",
                "the service interval must be above zero",
            ));
        }
        if every.is_none() && time_tolerance.is_some() {
            return Err(WarrantyError::invalid(
                "maintenance plan",
                "a time tolerance needs a time interval",
            ));
        }
        let mut interval = Counters {
            time: every.map(span_of).transpose()?,
            meters: Meters::new(),
        };
        let mut tolerance = Counters {
            time: time_tolerance.map(span_of).transpose()?,
            meters: Meters::new(),
        };
        let mut start_meters = Meters::new();
        if let Some(m) = &meter {
            if m.every <= Decimal::ZERO {
                return Err(WarrantyError::invalid(
                    "maintenance plan",
                    format!(
                        "the `{}` interval must be above zero (got `{}`)",
                        m.unit, m.every
                    ),
                ));
            }
            non_negative(&format!("the `{}` tolerance", m.unit), m.tolerance)?;
            non_negative(&format!("the `{}` reading at start", m.unit), m.at_start)?;
            interval.meters.insert(m.unit.clone(), m.every);
            tolerance.meters.insert(m.unit.clone(), m.tolerance);
            start_meters.insert(m.unit.clone(), m.at_start);
        }
        let mut task = Task::new(TASK, interval);
        task.tolerance = tolerance;
        let plan = Plan::new(start, start_meters, vec![task]).map_err(from_maintenance)?;
        Ok(Self { meter, plan })
    }

    /// The day the plan starts (the in-service date).
    pub fn start(&self) -> Date {
        self.plan.start
    }

    /// The meter part, if any.
    pub fn meter(&self) -> Option<&MeterInterval> {
        self.meter.as_ref()
    }

    /// The maintenance plan (of one task, named `service`) this plan runs on.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

/// A warranty period as the maintenance engine's span (a year is 12 months).
fn span_of(period: Period) -> Result<Span, WarrantyError> {
    use super::period::PeriodUnit;
    let too_long =
        || WarrantyError::DateOutOfRange(format!("a period of {period} is out of range"));
    Ok(match period.unit {
        PeriodUnit::Days => Span {
            months: 0,
            days: period.count,
        },
        PeriodUnit::Months => Span {
            months: period.count,
            days: 0,
        },
        PeriodUnit::Years => Span {
            months: period.count.checked_mul(12).ok_or_else(too_long)?,
            days: 0,
        },
    })
}

/// A maintenance engine error in warranty terms: a limit of the evaluation stays that limit;
/// a date or meter computation out of range stays an out-of-range error.
fn from_maintenance(e: MaintenanceError) -> WarrantyError {
    match e {
        MaintenanceError::Exhausted(limit) => WarrantyError::Exhausted(limit),
        MaintenanceError::Range(text) => WarrantyError::DateOutOfRange(text),
        other => WarrantyError::invalid("maintenance plan", other.to_string()),
    }
}

/// Checks the services done up to a failure on `on` (with meter reading `reading`, required
/// when the plan has a meter) against `plan`.
///
/// Services are taken in date order (then reading); those after `on` are ignored, since they
/// cannot have prevented the failure. Each service is due a period or interval after the one
/// before, whichever comes first (see the module doc for how tolerance moves the plan), and is
/// missed when done past either deadline; after the last service, one more is missed when the
/// failure came past its deadline. Services before the plan's start, without a reading when
/// the plan has a meter, with readings that go down, or above the reading at the failure, are
/// errors.
pub fn maintenance_compliance(
    plan: &ServicePlan,
    services: &[ServiceRecord],
    on: Date,
    reading: Option<Decimal>,
) -> Result<Compliance, WarrantyError> {
    let meter = plan.meter.as_ref();
    if let (Some(m), None) = (meter, reading) {
        return Err(WarrantyError::invalid(
            "maintenance_compliance",
            format!(
                "the plan counts `{}`: give the reading at the failure",
                m.unit
            ),
        ));
    }
    let reading = match meter {
        Some(m) => Some(non_negative(
            &format!("the `{}` reading at the failure", m.unit),
            reading.unwrap_or_default(),
        )?),
        None => None,
    };
    let mut done: Vec<ServiceRecord> = services.iter().copied().filter(|s| s.date <= on).collect();
    done.sort_by_key(|s| (s.date, s.reading));
    check_services(plan, &done, reading)?;

    let meters_of = |value: Option<Decimal>| -> Meters {
        match (meter, value) {
            (Some(m), Some(v)) => Meters::from([(m.unit.clone(), v)]),
            _ => Meters::new(),
        }
    };
    let history: Vec<Completion> = done
        .iter()
        .map(|s| Completion {
            task: TASK.to_string(),
            date: s.date,
            meters: meters_of(s.reading),
        })
        .collect();
    let readings: Vec<Reading> = reading
        .map(|r| Reading {
            date: on,
            meters: meters_of(Some(r)),
        })
        .into_iter()
        .collect();
    let report = plan
        .plan
        .compliance(&history, &readings, on)
        .map_err(from_maintenance)?;

    let unit = meter.map(|m| m.unit.as_str());
    let at = |meters: &Meters| unit.and_then(|u| meters.get(u).copied());
    let missed = report
        .services
        .iter()
        .filter(|s| s.status.breaks_compliance())
        .map(|s| {
            let deadline_on = s.tolerance_until.on;
            let deadline_reading = at(&s.tolerance_until.at);
            let (date, value) = match &s.done {
                Some(p) => (p.date, at(&p.meters)),
                None => (on, reading),
            };
            MissedService {
                due_on: s.due.on,
                deadline_on,
                due_reading: at(&s.due.at),
                deadline_reading,
                done_on: s.done.as_ref().map(|p| p.date),
                done_reading: s.done.as_ref().and_then(|p| at(&p.meters)),
                late_by_time: deadline_on.is_some_and(|d| date > d),
                late_by_meter: matches!((deadline_reading, value), (Some(l), Some(v)) if v > l),
            }
        })
        .collect();
    debug_assert!(report
        .services
        .iter()
        .all(|s| s.status != Status::Missed || s.done.is_none()));
    let next = report.open.first();
    Ok(Compliance {
        missed,
        services_counted: done.len(),
        next_due_on: next.and_then(|d| d.on),
        next_due_reading: next.and_then(|d| at(&d.at)),
    })
}

/// The warranty's input contract for the services up to the failure (sorted by date): none
/// before the plan starts, a reading on each when the plan has a meter, readings that never go
/// down and are not above the reading at the failure.
fn check_services(
    plan: &ServicePlan,
    done: &[ServiceRecord],
    at_failure: Option<Decimal>,
) -> Result<(), WarrantyError> {
    let meter = plan.meter.as_ref();
    let start = plan.start();
    let mut last_reading = meter.map(|m| m.at_start);
    let mut last_date = start;
    // Not charged to the evaluation's meter here: the engine charges each service it replays.
    for s in done {
        if s.date < start {
            return Err(WarrantyError::Inconsistent(format!(
                "a service on {} is before the plan starts on {start}",
                s.date
            )));
        }
        let service_reading = check_reading(meter, s, last_date, last_reading, at_failure)?;
        last_reading = service_reading.or(last_reading);
        last_date = s.date;
    }
    if let (Some(m), Some(r), Some(last)) = (meter, at_failure, last_reading) {
        if r < last {
            return Err(WarrantyError::Inconsistent(format!(
                "the `{}` reading `{r}` at the failure is below an earlier reading `{last}`",
                m.unit
            )));
        }
    }
    Ok(())
}

/// The reading of a service record, checked against the plan, the previous service (or the
/// start) and the failure.
fn check_reading(
    meter: Option<&MeterInterval>,
    service: &ServiceRecord,
    previous_date: Date,
    previous: Option<Decimal>,
    at_failure: Option<Decimal>,
) -> Result<Option<Decimal>, WarrantyError> {
    let Some(m) = meter else {
        return Ok(None);
    };
    let Some(r) = service.reading else {
        return Err(WarrantyError::invalid(
            "maintenance_compliance",
            format!(
                "the service on {} has no `{}` reading",
                service.date, m.unit
            ),
        ));
    };
    non_negative(&format!("the `{}` reading of a service", m.unit), r)?;
    if let Some(prev) = previous {
        if r < prev {
            return Err(WarrantyError::Inconsistent(format!(
                "the `{}` readings go down: `{r}` on {} after `{prev}` on {previous_date}",
                m.unit, service.date
            )));
        }
    }
    if let Some(limit) = at_failure {
        if r > limit {
            return Err(WarrantyError::Inconsistent(format!(
                "the service on {} reads `{r}` {}, above the reading `{limit}` at the failure",
                service.date, m.unit
            )));
        }
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warranty::period::PeriodUnit;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    /// Every 12 months or 15,000 km, tolerance 1 month / 1,500 km, from 2024-01-15.
    fn plan() -> ServicePlan {
        ServicePlan::new(
            d("2024-01-15"),
            Some(Period::new(12, PeriodUnit::Months).unwrap()),
            Some(Period::new(1, PeriodUnit::Months).unwrap()),
            Some(MeterInterval {
                unit: "km".into(),
                every: Decimal::from(15_000),
                tolerance: Decimal::from(1_500),
                at_start: Decimal::ZERO,
            }),
        )
        .unwrap()
    }

    fn service(date: &str, km: i64) -> ServiceRecord {
        ServiceRecord {
            date: d(date),
            reading: Some(Decimal::from(km)),
        }
    }

    #[test]
    fn nothing_due_yet_is_compliant() {
        let c = maintenance_compliance(&plan(), &[], d("2025-02-15"), Some(16_500.into())).unwrap();
        assert!(c.compliant());
        assert_eq!(c.next_due_on, Some(d("2025-01-15")));
        assert_eq!(c.next_due_reading, Some(15_000.into()));
    }

    #[test]
    fn a_service_not_done_past_the_time_tolerance_is_missed() {
        let c = maintenance_compliance(&plan(), &[], d("2025-02-16"), Some(9_000.into())).unwrap();
        assert!(!c.compliant());
        let m = &c.missed[0];
        assert_eq!(m.reason(), "not_done");
        assert!(m.late_by_time && !m.late_by_meter);
        assert_eq!(m.deadline_on, Some(d("2025-02-15")));
    }

    #[test]
    fn late_within_tolerance_is_on_time_and_keeps_the_plan() {
        let c = maintenance_compliance(
            &plan(),
            &[service("2025-02-10", 16_200)],
            d("2025-06-01"),
            Some(20_000.into()),
        )
        .unwrap();
        assert!(c.compliant());
        // lateness inside the tolerance does not move the plan
        assert_eq!(c.next_due_on, Some(d("2026-01-15")));
        assert_eq!(c.next_due_reading, Some(30_000.into()));
    }

    #[test]
    fn early_restarts_from_the_service_and_late_beyond_tolerance_too() {
        // early on both counters: the next is due 12 months / 15,000 km after the service
        let c = maintenance_compliance(
            &plan(),
            &[service("2024-11-20", 12_000)],
            d("2025-01-01"),
            Some(13_000.into()),
        )
        .unwrap();
        assert_eq!(c.next_due_on, Some(d("2025-11-20")));
        assert_eq!(c.next_due_reading, Some(27_000.into()));
        // late beyond the time tolerance: missed, and the next is due from the service
        let c = maintenance_compliance(
            &plan(),
            &[service("2025-03-01", 14_000)],
            d("2025-04-01"),
            Some(15_000.into()),
        )
        .unwrap();
        assert_eq!(c.missed.len(), 1);
        assert_eq!(c.next_due_on, Some(d("2026-03-01")));
        assert_eq!(c.next_due_reading, Some(29_000.into()));
    }

    #[test]
    fn on_the_plan_due_dates_do_not_drift_at_month_ends() {
        // from Jan 31, 1-month interval, services on time within a 5-day tolerance: due dates
        // stay Feb 29, Mar 31, Apr 30 (from the anchor), not Feb 29, Mar 29, Apr 29 (chained)
        let monthly = ServicePlan::new(
            d("2024-01-31"),
            Some(Period::new(1, PeriodUnit::Months).unwrap()),
            Some(Period::new(5, PeriodUnit::Days).unwrap()),
            None,
        )
        .unwrap();
        let done = |date: &str| ServiceRecord {
            date: d(date),
            reading: None,
        };
        let c = maintenance_compliance(
            &monthly,
            &[done("2024-03-02"), done("2024-04-02")],
            d("2024-04-10"),
            None,
        )
        .unwrap();
        assert!(c.compliant());
        assert_eq!(c.next_due_on, Some(d("2024-04-30")));
    }

    #[test]
    fn late_by_meter_beyond_tolerance_is_missed() {
        let c = maintenance_compliance(
            &plan(),
            &[service("2024-11-01", 16_501)],
            d("2025-01-01"),
            Some(20_000.into()),
        )
        .unwrap();
        assert_eq!(c.missed.len(), 1);
        assert_eq!(c.missed[0].reason(), "late");
        assert!(c.missed[0].late_by_meter && !c.missed[0].late_by_time);
    }

    #[test]
    fn services_after_the_failure_do_not_count() {
        let c = maintenance_compliance(
            &plan(),
            &[service("2025-03-01", 17_000)],
            d("2025-02-20"),
            Some(16_900.into()),
        )
        .unwrap();
        assert_eq!(c.services_counted, 0);
        assert_eq!(c.missed[0].reason(), "not_done");
    }

    #[test]
    fn a_service_late_beyond_tolerance_moves_every_late_counter_to_it() {
        // due 2025-01-15 or 15,000 km; done 2025-02-10 (within the month) at 17,000 km
        // (beyond 1,500 km): the service is late, and the next one is due from it on both
        // counters, as the maintenance plugin's last-completion plans with a shift factor of 1
        let c = maintenance_compliance(
            &plan(),
            &[service("2025-02-10", 17_000)],
            d("2025-06-01"),
            Some(20_000.into()),
        )
        .unwrap();
        assert_eq!(c.missed.len(), 1);
        assert!(c.missed[0].late_by_meter && !c.missed[0].late_by_time);
        assert_eq!(c.next_due_on, Some(d("2026-02-10")));
        assert_eq!(c.next_due_reading, Some(32_000.into()));
    }

    #[test]
    fn agrees_with_the_maintenance_plugin() {
        use crate::maintenance::{Completion, Reading};
        let p = plan();
        let services = [service("2025-01-20", 14_000), service("2026-03-01", 31_000)];
        let c =
            maintenance_compliance(&p, &services, d("2026-06-01"), Some(33_000.into())).unwrap();
        let history: Vec<Completion> = services
            .iter()
            .map(|s| Completion {
                task: TASK.into(),
                date: s.date,
                meters: Meters::from([("km".to_string(), s.reading.unwrap())]),
            })
            .collect();
        let readings = [Reading {
            date: d("2026-06-01"),
            meters: Meters::from([("km".to_string(), Decimal::from(33_000))]),
        }];
        let m = p
            .plan()
            .compliance(&history, &readings, d("2026-06-01"))
            .unwrap();
        assert_eq!(c.compliant(), m.compliant);
        assert_eq!(c.missed.len(), m.reasons().len());
        assert_eq!(c.next_due_on, m.open[0].on);
    }

    #[test]
    fn inconsistent_records_are_errors() {
        let down = maintenance_compliance(
            &plan(),
            &[service("2025-01-10", 15_000), service("2026-01-10", 14_000)],
            d("2026-02-01"),
            Some(30_000.into()),
        );
        assert!(matches!(down, Err(WarrantyError::Inconsistent(_))));
        let before = maintenance_compliance(
            &plan(),
            &[service("2024-01-01", 10)],
            d("2024-06-01"),
            Some(5_000.into()),
        );
        assert!(matches!(before, Err(WarrantyError::Inconsistent(_))));
        let no_reading = maintenance_compliance(&plan(), &[], d("2024-06-01"), None);
        assert!(matches!(no_reading, Err(WarrantyError::Invalid { .. })));
    }
}
