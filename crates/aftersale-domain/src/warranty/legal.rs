//! The EU legal guarantee of conformity (Directive 2019/771) as member states transpose it:
//! the seller's liability period, the presumption period that decides who must prove that a
//! defect existed at delivery, the consumer's duty to notify where a state keeps one, and the
//! shorter period the parties may agree for second-hand goods where a state allows it.

use aftersale_core::Date;

use super::error::WarrantyError;

/// One member state's figures. [`LegalGuaranteeRules::for_state`] knows a few states; a
/// contract may pass its own figures instead (laws change; contracts cite their source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegalGuaranteeRules {
    /// The seller is liable for defects that appear within this many months of delivery.
    pub liability_months: i64,
    /// A defect that appears within this many months is presumed to have existed at delivery.
    pub presumption_months: i64,
    /// The presumption for second-hand goods.
    pub presumption_months_second_hand: i64,
    /// The shortest liability the parties may agree for second-hand goods; 0 when the state
    /// does not allow a shorter period.
    pub second_hand_min_months: i64,
    /// The consumer must notify the seller within this many months of discovering the defect;
    /// 0 when there is no such duty.
    pub notice_months: i64,
}

impl LegalGuaranteeRules {
    /// The directive's own defaults: 2 years of liability, 1 year of presumption.
    pub const DIRECTIVE: Self = Self {
        liability_months: 24,
        presumption_months: 12,
        presumption_months_second_hand: 12,
        second_hand_min_months: 0,
        notice_months: 0,
    };

    /// The figures of a member state (ISO 3166 code, any case), or the directive's defaults
    /// for a state this table does not list. Known: DE, ES, FR, IT, PT, SE, SI (as transposed
    /// by 2026; see `rules/eu-legal-guarantee/contract.toml` for the sources).
    pub fn for_state(code: &str) -> Self {
        let d = Self::DIRECTIVE;
        match code.to_ascii_uppercase().as_str() {
            "DE" | "IT" => Self {
                second_hand_min_months: 12,
                ..d
            },
            "FR" => Self {
                presumption_months: 24,
                ..d
            },
            "ES" => Self {
                liability_months: 36,
                presumption_months: 24,
                presumption_months_second_hand: 24,
                second_hand_min_months: 12,
                ..d
            },
            "PT" => Self {
                liability_months: 36,
                presumption_months: 24,
                presumption_months_second_hand: 24,
                second_hand_min_months: 18,
                ..d
            },
            "SE" => Self {
                liability_months: 36,
                presumption_months: 24,
                presumption_months_second_hand: 24,
                ..d
            },
            "SI" => Self {
                notice_months: 2,
                ..d
            },
            _ => d,
        }
    }
}

/// Who must prove that the defect existed at delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurdenOfProof {
    /// Within the presumption period: the seller must prove the goods conformed.
    Seller,
    /// After it: the consumer must prove the defect existed at delivery.
    Consumer,
}

impl BurdenOfProof {
    /// `seller` or `consumer`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seller => "seller",
            Self::Consumer => "consumer",
        }
    }
}

/// The legal guarantee applied to one defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalGuarantee {
    /// The last day of the seller's liability (covered).
    pub liability_ends: Date,
    /// The last day of the presumption (never after `liability_ends`).
    pub presumption_ends: Date,
    /// Whether the defect appeared within the liability period.
    pub within_liability: bool,
    /// Why not, when it did not: `defect_before_delivery` or `defect_after_liability_period`.
    pub reason: Option<&'static str>,
    /// Who must prove the defect existed at delivery.
    pub burden_of_proof: BurdenOfProof,
    /// The last day to notify the seller, where the state keeps that duty.
    pub notice_deadline: Option<Date>,
}

/// Applies the legal guarantee to a defect noticed on `noticed` for goods delivered on
/// `delivered`. Periods end on the same date N months later, month ends clamped, the end day
/// covered. For second-hand goods, `agreed_months` (when the state allows a shorter period and
/// the agreement is not below its floor) replaces the liability period; an agreement below the
/// floor does not bind the consumer and the statutory period applies.
pub fn legal_guarantee(
    rules: &LegalGuaranteeRules,
    delivered: Date,
    noticed: Date,
    second_hand: bool,
    agreed_months: Option<i64>,
) -> Result<LegalGuarantee, WarrantyError> {
    for (what, months) in [
        ("the liability period", rules.liability_months),
        ("the presumption period", rules.presumption_months),
        (
            "the second-hand presumption period",
            rules.presumption_months_second_hand,
        ),
        ("the notice period", rules.notice_months),
    ] {
        if months < 0 {
            return Err(WarrantyError::Negative {
                what: what.into(),
                value: months.into(),
            });
        }
    }
    let agreed = match (second_hand, agreed_months) {
        (true, Some(m))
            if rules.second_hand_min_months > 0
                && m >= rules.second_hand_min_months
                && m < rules.liability_months =>
        {
            Some(m)
        }
        _ => None,
    };
    let liability = agreed.unwrap_or(rules.liability_months);
    let presumption = if second_hand {
        rules.presumption_months_second_hand
    } else {
        rules.presumption_months
    };
    let add = |months: i64| {
        delivered
            .add_months(months)
            .map_err(WarrantyError::DateOutOfRange)
    };
    let liability_ends = add(liability)?;
    let presumption_ends = add(presumption.min(liability))?;
    let reason = if noticed < delivered {
        Some("defect_before_delivery")
    } else if noticed > liability_ends {
        Some("defect_after_liability_period")
    } else {
        None
    };
    let burden_of_proof = if noticed >= delivered && noticed <= presumption_ends {
        BurdenOfProof::Seller
    } else {
        BurdenOfProof::Consumer
    };
    let notice_deadline = match rules.notice_months {
        0 => None,
        m => Some(
            noticed
                .add_months(m)
                .map_err(WarrantyError::DateOutOfRange)?,
        ),
    };
    Ok(LegalGuarantee {
        liability_ends,
        presumption_ends,
        within_liability: reason.is_none(),
        reason,
        burden_of_proof,
        notice_deadline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn apply(state: &str, delivered: &str, noticed: &str) -> LegalGuarantee {
        legal_guarantee(
            &LegalGuaranteeRules::for_state(state),
            d(delivered),
            d(noticed),
            false,
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_last_day_of_liability_is_covered_and_the_next_is_not() {
        let g = apply("DE", "2024-01-15", "2026-01-15");
        assert_eq!(g.liability_ends, d("2026-01-15"));
        assert!(g.within_liability);
        assert_eq!(g.burden_of_proof, BurdenOfProof::Consumer);
        let g = apply("DE", "2024-01-15", "2026-01-16");
        assert_eq!(g.reason, Some("defect_after_liability_period"));
    }

    #[test]
    fn the_presumption_decides_the_burden_of_proof() {
        assert_eq!(
            apply("IT", "2024-01-15", "2025-01-15").burden_of_proof,
            BurdenOfProof::Seller
        );
        assert_eq!(
            apply("IT", "2024-01-15", "2025-01-16").burden_of_proof,
            BurdenOfProof::Consumer
        );
        assert_eq!(
            apply("FR", "2024-01-15", "2026-01-10").burden_of_proof,
            BurdenOfProof::Seller
        );
    }

    #[test]
    fn r_feb_29_delivery_clamps_to_feb_28() {
        let g = apply("IT", "2024-02-29", "2025-02-28");
        assert_eq!(g.presumption_ends, d("2025-02-28"));
        assert_eq!(g.burden_of_proof, BurdenOfProof::Seller);
        assert_eq!(g.liability_ends, d("2026-02-28"));
    }

    #[test]
    fn states_with_three_years_and_unknown_states() {
        assert_eq!(
            apply("es", "2024-01-15", "2027-01-15").liability_ends,
            d("2027-01-15")
        );
        assert!(apply("PT", "2024-01-15", "2027-01-15").within_liability);
        assert!(!apply("ZZ", "2024-01-15", "2027-01-15").within_liability);
        assert_eq!(
            apply("SI", "2024-01-15", "2024-05-31").notice_deadline,
            Some(d("2024-07-31"))
        );
        assert_eq!(
            apply("IT", "2024-01-15", "2024-05-31").notice_deadline,
            None
        );
    }

    #[test]
    fn second_hand_agreements_bind_only_above_the_floor() {
        let de = LegalGuaranteeRules::for_state("DE");
        let g = legal_guarantee(&de, d("2024-01-15"), d("2025-02-01"), true, Some(12)).unwrap();
        assert_eq!(g.liability_ends, d("2025-01-15"));
        assert!(!g.within_liability);
        let g = legal_guarantee(&de, d("2024-01-15"), d("2025-02-01"), true, Some(6)).unwrap();
        assert_eq!(
            g.liability_ends,
            d("2026-01-15"),
            "below the floor: the statutory period"
        );
        let fr = LegalGuaranteeRules::for_state("FR");
        let g = legal_guarantee(&fr, d("2024-01-15"), d("2025-02-01"), true, Some(12)).unwrap();
        assert_eq!(
            g.liability_ends,
            d("2026-01-15"),
            "FR allows no shorter period"
        );
        assert_eq!(
            g.presumption_ends,
            d("2025-01-15"),
            "FR second-hand presumption is 12 months"
        );
    }

    #[test]
    fn a_defect_before_delivery_is_refused() {
        assert_eq!(
            apply("DE", "2024-01-15", "2024-01-14").reason,
            Some("defect_before_delivery")
        );
    }
}
