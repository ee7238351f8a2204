//! Money of a claim, in exact decimals: deductibles, caps, pro-rata tiers, linear credit and
//! the split of a repair's cost between the warrantor and the customer. Rounding is always
//! explicit ([`Rounding`]); the default is half-even (banker's) to cents.

use std::fmt;
use std::str::FromStr;

use aftersale_core::Date;
use rust_decimal::{Decimal, RoundingStrategy};

use super::error::{non_negative, share, WarrantyError};

/// How a half (or any excess digit) is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoundingMode {
    /// Half to the even neighbour (banker's rounding): 0.125 -> 0.12, 0.135 -> 0.14.
    #[default]
    HalfEven,
    /// Half away from zero: 0.125 -> 0.13.
    HalfUp,
    /// Towards zero (truncate).
    Down,
    /// Away from zero.
    Up,
}

impl RoundingMode {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Self::HalfEven => RoundingStrategy::MidpointNearestEven,
            Self::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Self::Down => RoundingStrategy::ToZero,
            Self::Up => RoundingStrategy::AwayFromZero,
        }
    }

    /// The name scripts use: `half_even`, `half_up`, `down` or `up`.
    pub fn name(self) -> &'static str {
        match self {
            Self::HalfEven => "half_even",
            Self::HalfUp => "half_up",
            Self::Down => "down",
            Self::Up => "up",
        }
    }
}

impl FromStr for RoundingMode {
    type Err = WarrantyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "half_even" => Ok(Self::HalfEven),
            "half_up" => Ok(Self::HalfUp),
            "down" => Ok(Self::Down),
            "up" => Ok(Self::Up),
            other => Err(WarrantyError::UnknownRounding(other.to_string())),
        }
    }
}

impl fmt::Display for RoundingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rounding rule: a number of decimal places and a mode. The default is cents, half-even.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// Decimal places kept (2 for cents, 0 for currencies without minor units).
    pub places: u32,
    /// What to do with the digits beyond them.
    pub mode: RoundingMode,
}

impl Default for Rounding {
    fn default() -> Self {
        Self {
            places: 2,
            mode: RoundingMode::HalfEven,
        }
    }
}

/// Most decimal places a rounding may keep (rust_decimal's scale limit).
const MAX_PLACES: u32 = 28;

impl Rounding {
    /// A rounding to `places` (0..=28) decimal places.
    pub fn new(places: i64, mode: RoundingMode) -> Result<Self, WarrantyError> {
        match u32::try_from(places) {
            Ok(p) if p <= MAX_PLACES => Ok(Self { places: p, mode }),
            _ => Err(WarrantyError::invalid(
                "rounding",
                format!("cannot round to `{places}` decimal places: use 0 to 28"),
            )),
        }
    }

    /// Rounds `x`, and writes the result with at least `places` digits (`2350` -> `2350.00`),
    /// so amounts read as money in decisions.
    pub fn apply(self, x: Decimal) -> Decimal {
        self.pad(x.round_dp_with_strategy(self.places, self.mode.strategy()))
    }

    /// Writes `x` with at least `places` digits, without rounding it (`100` -> `100.00`,
    /// `0.125` stays `0.125`).
    pub fn pad(self, mut x: Decimal) -> Decimal {
        if x.scale() < self.places {
            x.rescale(self.places);
        }
        x
    }
}

fn overflow(what: &str) -> WarrantyError {
    WarrantyError::Overflow(what.to_string())
}

/// The part of `cost` the customer pays as a deductible (excess): the deductible, or the
/// whole cost when it is smaller. Both must be zero or more.
pub fn deductible(cost: Decimal, amount: Decimal) -> Result<Decimal, WarrantyError> {
    let cost = non_negative("the cost", cost)?;
    let amount = non_negative("the deductible", amount)?;
    Ok(cost.min(amount))
}

/// `amount` limited to `limit` (a cap per claim). Both must be zero or more.
pub fn cap(amount: Decimal, limit: Decimal) -> Result<Decimal, WarrantyError> {
    let amount = non_negative("the amount", amount)?;
    let limit = non_negative("the cap", limit)?;
    Ok(amount.min(limit))
}

/// What is left of a total cap after `used` has been paid: `total - used`, never below zero.
pub fn remaining_cap(total: Decimal, used: Decimal) -> Result<Decimal, WarrantyError> {
    let total = non_negative("the total cap", total)?;
    let used = non_negative("the amount already paid", used)?;
    Ok((total - used).max(Decimal::ZERO))
}

/// One pro-rata tier: up to and including `upto_months` of age, the customer pays
/// `customer_share` of the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProRataTier {
    /// The tier's upper bound in months of age, inclusive.
    pub upto_months: i64,
    /// The customer's share of the cost in this tier, 0..=1.
    pub customer_share: Decimal,
}

/// Pro-rata tiers, validated: at least one, `upto_months` zero or more and strictly
/// increasing, shares in 0..=1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProRataTiers(Vec<ProRataTier>);

impl ProRataTiers {
    /// Validates tiers given in order of age.
    pub fn new(tiers: Vec<ProRataTier>) -> Result<Self, WarrantyError> {
        if tiers.is_empty() {
            return Err(WarrantyError::NoTiers);
        }
        for (i, t) in tiers.iter().enumerate() {
            if t.upto_months < 0 {
                return Err(WarrantyError::negative(
                    "a tier's `upto_months`",
                    t.upto_months.into(),
                ));
            }
            share("a tier's `customer_share`", t.customer_share)?;
            if let Some(prev) = i.checked_sub(1).and_then(|p| tiers.get(p)) {
                if t.upto_months <= prev.upto_months {
                    return Err(WarrantyError::UnsortedTiers {
                        previous: prev.upto_months,
                        next: t.upto_months,
                    });
                }
            }
        }
        Ok(Self(tiers))
    }

    /// The tiers, youngest first.
    pub fn tiers(&self) -> &[ProRataTier] {
        &self.0
    }

    fn last_bound(&self) -> i64 {
        self.0.last().map_or(0, |t| t.upto_months)
    }
}

/// The customer's share for a claim at `age_months` of age: the share of the first tier
/// whose `upto_months` is at least the age (bounds are inclusive). `age_months` may be a
/// fraction. An age beyond the last tier is an error: the claim is outside every tier.
///
/// Whole months from `months_between` round the age down, so "up to 12 months" then lasts
/// until the day before 13 whole months have passed; use [`pro_rata_share_on`] to measure tiers from a
/// date with the period rules (a tier of 12 months ends on the anniversary, inclusive).
pub fn pro_rata_share(age_months: Decimal, tiers: &ProRataTiers) -> Result<Decimal, WarrantyError> {
    let age = non_negative("the age in months", age_months)?;
    tiers
        .0
        .iter()
        .find(|t| age <= Decimal::from(t.upto_months))
        .map(|t| t.customer_share)
        .ok_or(WarrantyError::BeyondLastTier {
            age,
            last: tiers.last_bound(),
        })
}

/// The customer's share for a claim on `on` for cover that started on `start`: the share of
/// the first tier whose period, `upto_months` from `start` with the period rules (month ends
/// clamp, the end day included), still contains `on`. A claim before `start` or after the
/// last tier is an error.
pub fn pro_rata_share_on(
    start: Date,
    on: Date,
    tiers: &ProRataTiers,
) -> Result<Decimal, WarrantyError> {
    if on < start {
        return Err(WarrantyError::Inconsistent(format!(
            "the claim date {on} is before the start of cover {start}"
        )));
    }
    for t in &tiers.0 {
        let end = start
            .add_months(t.upto_months)
            .map_err(WarrantyError::DateOutOfRange)?;
        if on <= end {
            return Ok(t.customer_share);
        }
    }
    Err(WarrantyError::BeyondLastTier {
        age: start.whole_months_until(on).into(),
        last: tiers.last_bound(),
    })
}

/// Linear credit: `price x remaining / total`, where `remaining = total - used` (never below
/// zero), rounded with `rounding`. `used` and `total` are in any unit of life (months, km,
/// cycles); `total` must be above zero.
pub fn linear_credit(
    price: Decimal,
    used: Decimal,
    total: Decimal,
    rounding: Rounding,
) -> Result<Decimal, WarrantyError> {
    let price = non_negative("the price", price)?;
    let used = non_negative("the life used", used)?;
    if total <= Decimal::ZERO {
        return Err(WarrantyError::invalid(
            "linear_credit",
            format!("the total life must be above zero (got `{total}`)"),
        ));
    }
    let remaining = (total - used).max(Decimal::ZERO);
    let credit = price
        .checked_mul(remaining)
        .and_then(|x| x.checked_div(total))
        .ok_or_else(|| overflow("the linear credit"))?;
    Ok(rounding.apply(credit))
}

/// How a claim's cost is split: the deductible first, then the customer's share of the rest,
/// then a cap on what the warrantor pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementTerms {
    /// The customer pays this much first (per visit); zero or more.
    pub deductible: Decimal,
    /// The customer's share of the cost after the deductible, 0..=1.
    pub customer_share: Decimal,
    /// The most the warrantor pays on this claim (already reduced by any total cap).
    pub cap: Option<Decimal>,
    /// How the warrantor's amount is rounded.
    pub rounding: Rounding,
}

/// The split of a claim's cost. Always `covered_amount + customer_pays == cost` and
/// `0 <= covered_amount <= cost`. Amounts are written with at least the rounding's places
/// (`100.00`, not `100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// What the warrantor pays.
    pub covered_amount: Decimal,
    /// What the customer pays: deductible, share and anything above the cap.
    pub customer_pays: Decimal,
    /// The part of the cost taken by the deductible.
    pub deductible_applied: Decimal,
    /// The customer's pro-rata share of the cost after the deductible.
    pub customer_share_amount: Decimal,
    /// What the cap removed from the warrantor's amount.
    pub over_cap: Decimal,
}

/// Splits `cost` per `terms`:
///
/// 1. the deductible takes `min(deductible, cost)`;
/// 2. the warrantor's amount is `(cost - deductible) x (1 - customer_share)`, rounded per
///    `terms.rounding` (and never more than the cost after the deductible, even when
///    rounding up); the customer's share is the rest of the cost after the deductible;
/// 3. the cap, if any, limits the warrantor's amount;
/// 4. the customer pays `cost - covered_amount`, so the two always add up to the cost.
///
/// ```
/// use aftersale_domain::warranty::{settle, SettlementTerms};
/// use rust_decimal::Decimal;
/// let terms = SettlementTerms {
///     deductible: Decimal::new(10000, 2),      // 100.00
///     customer_share: Decimal::new(5, 1),      // 0.5
///     ..SettlementTerms::default()
/// };
/// let s = settle(Decimal::new(100005, 2), &terms).unwrap(); // 1000.05
/// // (1000.05 - 100.00) x 0.5 = 450.025, half-even to cents: 450.02
/// assert_eq!(s.covered_amount.to_string(), "450.02");
/// assert_eq!(s.customer_pays.to_string(), "550.03");
/// ```
pub fn settle(cost: Decimal, terms: &SettlementTerms) -> Result<Settlement, WarrantyError> {
    let cost = non_negative("the cost", cost)?;
    let deductible_applied = deductible(cost, terms.deductible)?;
    let customer_share = share("the customer share", terms.customer_share)?;
    let after_deductible = cost - deductible_applied;
    let exact = after_deductible
        .checked_mul(Decimal::ONE - customer_share)
        .ok_or_else(|| overflow("the covered amount"))?;
    let before_cap = terms.rounding.apply(exact).min(after_deductible);
    let covered_amount = match terms.cap {
        Some(limit) => cap(before_cap, limit)?,
        None => before_cap,
    };
    let money = |x: Decimal| terms.rounding.pad(x);
    Ok(Settlement {
        covered_amount: money(covered_amount),
        customer_pays: money(cost - covered_amount),
        deductible_applied: money(deductible_applied),
        customer_share_amount: money(after_deductible - before_cap),
        over_cap: money(before_cap - covered_amount),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn tiers() -> ProRataTiers {
        ProRataTiers::new(vec![
            ProRataTier {
                upto_months: 12,
                customer_share: dec("0.0"),
            },
            ProRataTier {
                upto_months: 24,
                customer_share: dec("0.5"),
            },
        ])
        .unwrap()
    }

    #[test]
    fn deductible_and_caps() {
        assert_eq!(
            deductible(dec("80.00"), dec("100.00")).unwrap(),
            dec("80.00")
        );
        assert_eq!(
            deductible(dec("800.00"), dec("100.00")).unwrap(),
            dec("100.00")
        );
        assert_eq!(cap(dec("800.00"), dec("500")).unwrap(), dec("500"));
        assert_eq!(
            remaining_cap(dec("1000"), dec("1200")).unwrap(),
            Decimal::ZERO
        );
        assert_eq!(
            remaining_cap(dec("1000"), dec("250.50")).unwrap(),
            dec("749.50")
        );
        assert_eq!(
            deductible(dec("-1"), dec("1")).unwrap_err().to_string(),
            "the cost must not be negative (got `-1`)"
        );
    }

    #[test]
    fn pro_rata_tier_bounds_are_inclusive() {
        let t = tiers();
        assert_eq!(pro_rata_share(dec("12"), &t).unwrap(), dec("0.0"));
        assert_eq!(pro_rata_share(dec("12.5"), &t).unwrap(), dec("0.5"));
        assert_eq!(pro_rata_share(dec("24"), &t).unwrap(), dec("0.5"));
        assert!(matches!(
            pro_rata_share(dec("25"), &t),
            Err(WarrantyError::BeyondLastTier { last: 24, .. })
        ));
    }

    #[test]
    fn pro_rata_from_a_date_ends_tiers_on_the_anniversary() {
        let t = tiers();
        let start = d("2024-02-29");
        assert_eq!(
            pro_rata_share_on(start, d("2025-02-28"), &t).unwrap(),
            dec("0.0")
        );
        assert_eq!(
            pro_rata_share_on(start, d("2025-03-01"), &t).unwrap(),
            dec("0.5")
        );
        assert_eq!(
            pro_rata_share_on(start, d("2026-02-28"), &t).unwrap(),
            dec("0.5")
        );
        assert!(pro_rata_share_on(start, d("2026-03-01"), &t).is_err());
        assert!(pro_rata_share_on(start, d("2024-02-28"), &t).is_err());
    }

    #[test]
    fn unsorted_or_invalid_tiers_are_errors() {
        let err = ProRataTiers::new(vec![
            ProRataTier {
                upto_months: 24,
                customer_share: dec("0.5"),
            },
            ProRataTier {
                upto_months: 12,
                customer_share: dec("0"),
            },
        ])
        .unwrap_err();
        assert_eq!(
            err,
            WarrantyError::UnsortedTiers {
                previous: 24,
                next: 12
            }
        );
        assert!(ProRataTiers::new(vec![]).is_err());
        let err = ProRataTiers::new(vec![ProRataTier {
            upto_months: 12,
            customer_share: dec("1.5"),
        }])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a tier's `customer_share` must be between 0 and 1 (got `1.5`)"
        );
    }

    #[test]
    fn linear_credit_is_remaining_over_total_rounded_half_even() {
        let cents = Rounding::default();
        // 1000 x 5/12 = 416.666.. -> 416.67
        assert_eq!(
            linear_credit(dec("1000"), dec("7"), dec("12"), cents).unwrap(),
            dec("416.67")
        );
        // 0.25 x 1/2 = 0.125 -> half-even 0.12, half-up 0.13
        assert_eq!(
            linear_credit(dec("0.25"), dec("1"), dec("2"), cents).unwrap(),
            dec("0.12")
        );
        let half_up = Rounding::new(2, RoundingMode::HalfUp).unwrap();
        assert_eq!(
            linear_credit(dec("0.25"), dec("1"), dec("2"), half_up).unwrap(),
            dec("0.13")
        );
        assert_eq!(
            linear_credit(dec("500"), dec("15"), dec("12"), cents).unwrap(),
            dec("0.00")
        );
        assert!(linear_credit(dec("500"), dec("1"), dec("0"), cents).is_err());
    }

    #[test]
    fn settle_deductible_share_and_cap() {
        let s = settle(
            dec("2450.00"),
            &SettlementTerms {
                deductible: dec("100.00"),
                ..SettlementTerms::default()
            },
        )
        .unwrap();
        assert_eq!(s.covered_amount.to_string(), "2350.00");
        assert_eq!(s.customer_pays.to_string(), "100.00");

        let s = settle(
            dec("12000.00"),
            &SettlementTerms {
                deductible: dec("100.00"),
                customer_share: dec("0.5"),
                cap: Some(dec("5000.00")),
                rounding: Rounding::default(),
            },
        )
        .unwrap();
        assert_eq!(s.covered_amount, dec("5000.00"));
        assert_eq!(s.customer_pays, dec("7000.00"));
        assert_eq!(s.customer_share_amount, dec("5950.00"));
        assert_eq!(s.over_cap, dec("950.00"));
    }

    #[test]
    fn settle_a_cost_below_the_deductible_covers_nothing() {
        let s = settle(
            dec("60.00"),
            &SettlementTerms {
                deductible: dec("100.00"),
                ..SettlementTerms::default()
            },
        )
        .unwrap();
        assert_eq!(s.covered_amount, Decimal::ZERO);
        assert_eq!(s.customer_pays, dec("60.00"));
    }

    #[test]
    fn settle_rounding_up_never_covers_more_than_the_cost() {
        let s = settle(
            dec("0.001"),
            &SettlementTerms {
                rounding: Rounding::new(2, RoundingMode::Up).unwrap(),
                ..SettlementTerms::default()
            },
        )
        .unwrap();
        assert_eq!(s.covered_amount, dec("0.001"));
        assert_eq!(s.customer_pays, Decimal::ZERO);
    }

    #[test]
    fn settle_rejects_bad_terms() {
        let bad_share = SettlementTerms {
            customer_share: dec("-0.1"),
            ..SettlementTerms::default()
        };
        assert_eq!(
            settle(dec("10"), &bad_share).unwrap_err().to_string(),
            "the customer share must be between 0 and 1 (got `-0.1`)"
        );
        assert!(settle(dec("-10"), &SettlementTerms::default()).is_err());
    }

    #[test]
    fn settle_never_overflows_into_a_panic() {
        let s = settle(Decimal::MAX, &SettlementTerms::default()).unwrap();
        assert_eq!(s.covered_amount + s.customer_pays, Decimal::MAX);
    }
}
