//! The core vocabulary as scripts see it.

use serde_json::json;

use crate::support::{error_of, value_of};

#[test]
fn decimal_arithmetic_is_exact() {
    assert_eq!(value_of("0.1 + 0.2 == 0.3"), json!(true));
    assert_eq!(
        serde_json::to_string(&value_of("19.99 * 3")).unwrap(),
        "59.97"
    );
    assert_eq!(
        serde_json::to_string(&value_of("decimal(\"100.10\") - 0.1")).unwrap(),
        "100.00"
    );
}

#[test]
fn round_is_half_even_and_round_half_up_rounds_away() {
    assert_eq!(
        serde_json::to_string(&value_of(
            "[round(0.125, 2), round(0.135, 2), round(2.5, 0)]"
        ))
        .unwrap(),
        "[0.12,0.14,2]"
    );
    assert_eq!(
        serde_json::to_string(&value_of(
            "[round_half_up(0.125, 2), round_half_up(-0.125, 2)]"
        ))
        .unwrap(),
        "[0.13,-0.13]"
    );
    assert_eq!(value_of("round(7, 2)"), json!(7));
    assert!(error_of("round(1.5, -1)")
        .to_string()
        .contains("decimal places"));
}

#[test]
fn add_months_clamps_to_month_end() {
    assert_eq!(
        value_of("date(\"2024-01-31\").add_months(1)"),
        json!("2024-02-29")
    );
    assert_eq!(
        value_of("date(\"2024-01-31\").add_months(1) == date(\"2024-02-29\")"),
        json!(true)
    );
    assert_eq!(
        value_of("date(\"2024-02-29\").add_years(1)"),
        json!("2025-02-28")
    );
    assert_eq!(
        value_of("date(\"2024-01-31\").add_days(30)"),
        json!("2024-03-01")
    );
}

#[test]
fn date_differences_and_parts() {
    assert_eq!(
        value_of("days_between(date(\"2024-01-01\"), date(\"2025-01-01\"))"),
        json!(366)
    );
    assert_eq!(
        value_of("months_between(date(\"2024-01-31\"), date(\"2024-02-29\"))"),
        json!(1)
    );
    assert_eq!(
        value_of("let d = date(\"2024-02-29\"); [d.year, d.month, d.day, d.weekday]"),
        json!([2024, 2, 29, 4])
    );
    assert_eq!(
        value_of("date(\"2024-02-10\").end_of_month()"),
        json!("2024-02-29")
    );
}

#[test]
fn comparisons_on_dates_and_datetimes() {
    assert_eq!(
        value_of("date(\"2024-01-01\") < date(\"2024-01-02\")"),
        json!(true)
    );
    assert_eq!(
        value_of("date(\"2024-01-02\") >= date(\"2024-01-02\")"),
        json!(true)
    );
    assert_eq!(
        value_of("datetime(\"2025-03-07T16:00:00-05:00\") == datetime(\"2025-03-07T21:00:00Z\")"),
        json!(true)
    );
    assert_eq!(
        value_of("datetime(\"2025-03-07T16:00:00-05:00\") < datetime(\"2025-03-07T21:00:01Z\")"),
        json!(true)
    );
    let err = error_of("date(\"2024-01-01\") < datetime(\"2025-03-07T21:00:00Z\")");
    assert!(
        err.to_string()
            .contains("cannot compare a date with a datetime"),
        "{err}"
    );
    let err = error_of("date(\"2024-01-01\") == \"2024-01-01\"");
    assert!(
        err.to_string()
            .contains("cannot compare a date with a string"),
        "{err}"
    );
    let err = error_of("100 >= date(\"2024-01-01\")");
    assert!(
        err.to_string()
            .contains("cannot compare a integer with a date")
            || err.to_string().contains("cannot compare an integer"),
        "{err}"
    );
}

#[test]
fn as_of_is_a_datetime_and_date_is_local() {
    // as_of is 2025-06-15T10:00:00+02:00 (see support); the contract zone is UTC.
    assert_eq!(value_of("as_of"), json!("2025-06-15T10:00:00+02:00"));
    assert_eq!(value_of("as_of.date()"), json!("2025-06-15"));
    assert_eq!(value_of("type_of(as_of)"), json!("datetime"));
    assert_eq!(
        value_of("datetime(\"2025-06-15T23:30:00-05:00\").date()"),
        json!("2025-06-16")
    );
    assert_eq!(value_of("as_of.add_hours(16).date()"), json!("2025-06-16"));
}

#[test]
fn bad_dates_are_errors_naming_the_text() {
    let err = error_of("date(\"2025-02-30\")");
    assert!(err.to_string().contains("2025-02-30"), "{err}");
    assert!(error_of("datetime(\"yesterday\")")
        .to_string()
        .contains("yesterday"));
    assert!(
        error_of("date(\"2024-01-31\").add_years(9223372036854775807)")
            .to_string()
            .contains("out of range")
    );
}
