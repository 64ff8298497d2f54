use proptest::prelude::*;

use super::*;

fn q(s: &str) -> Quantity {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parses_kubernetes_forms_exactly() {
    assert_eq!(q("500m").milli_value(), 500);
    assert_eq!(q("2").milli_value(), 2000);
    assert_eq!(q("0.5").milli_value(), 500);
    assert_eq!(q(".5").milli_value(), 500);
    assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
    assert_eq!(q("1G").value(), 1_000_000_000);
    assert_eq!(q("1Gi").value(), 1 << 30);
    assert_eq!(q("1e3").value(), 1000);
    assert_eq!(q("1E-3").milli_value(), 1);
    assert_eq!(q("1.5k").value(), 1500);
    assert_eq!(q("-2").milli_value(), -2000);
    assert_eq!(q("+2").milli_value(), 2000);
    assert_eq!(q("1Ei").value(), 1 << 60);
    assert_eq!(q("0").milli_value(), 0);
}

#[test]
fn sub_milli_amounts_round_up() {
    assert_eq!(q("1u").milli_value(), 1);
    assert_eq!(q("1n").milli_value(), 1);
    assert_eq!(q("0.0001").milli_value(), 1);
    assert_eq!(q("1500u").milli_value(), 2);
    assert_eq!(q("1m").value(), 1, "whole units round up too");
}

#[test]
fn equality_is_numeric_and_display_keeps_the_text() {
    assert_eq!(q("1000m"), q("1"));
    assert_ne!(q("1Gi"), q("1G"));
    assert!(q("1Gi") > q("1G"));
    assert_eq!(q("128Mi").to_string(), "128Mi");
    assert_eq!((q("1") + q("500m")).to_string(), "1500m");
    assert_eq!((q("1") + q("1")).to_string(), "2");
    let mut total = Quantity::default();
    total += q("250m");
    total -= q("50m");
    assert_eq!(total.milli_value(), 200);
}

#[test]
fn bad_input_is_named() {
    for (bad, needle) in [
        ("", "empty"),
        (" 1", "whitespace"),
        ("1.2.3", "decimal point"),
        ("--1", "number"),
        ("Mi", "number"),
        ("12Q", "unknown suffix \"Q\""),
        ("1e", "unknown suffix"),
        ("1e99", "too large"),
        ("99999999999999999999999999999999999999999", "too large"),
        ("1Eix", "unknown suffix"),
    ] {
        let err = bad.parse::<Quantity>().unwrap_err().to_string();
        assert!(err.contains(needle), "{bad:?}: {err}");
        assert!(
            err.contains(&format!("{bad:?}")),
            "{bad:?} not quoted in {err}"
        );
    }
}

#[test]
fn extreme_exponents_and_precision_are_judged_by_value() {
    // Exponents beyond any integer type never panic.
    assert!(matches!(
        "1e2147483647".parse::<Quantity>(),
        Err(QuantityError::TooLarge(_))
    ));
    assert!(matches!(
        "1e99999999999999999999".parse::<Quantity>(),
        Err(QuantityError::TooLarge(_))
    ));
    assert_eq!(q("1e-2147483648").milli_value(), 1, "tiny rounds up");
    assert_eq!(q("1e-99999999999999999999").milli_value(), 1);
    // Zero is zero, whatever the exponent or number of digits.
    assert!(q("0e99").is_zero());
    assert!(q("-0.000000000000000000000000000000000000000000Ei").is_zero());
    // Zeros at either end are not precision.
    let long_one = format!("1.{}", "0".repeat(60));
    assert_eq!(q(&long_one), q("1"));
    assert_eq!(q(&format!("1{}e-60", "0".repeat(60))), q("1"));
    assert_eq!(q(&format!("{}1", "0".repeat(60))), q("1"));
    // The largest accepted amount, and just past it.
    assert_eq!(q("1e27").value(), i64::MAX, "value() saturates");
    assert!(matches!(
        "1.1e27".parse::<Quantity>(),
        Err(QuantityError::TooLarge(_))
    ));
    let precise = format!("1.{}1", "0".repeat(40));
    let err = precise.parse::<Quantity>().unwrap_err().to_string();
    assert!(err.contains("significant digits"), "{err}");
}

#[test]
fn binary_suffixes_with_fractions_are_exact() {
    assert_eq!(q("1.5Gi").value(), 3 << 29);
    assert_eq!(q("0.5Ki").value(), 512);
    // 0.0001 Ki = 0.1024 units = 102.4 milli, rounded up.
    assert_eq!(q("0.0001Ki").milli_value(), 103);
    assert_eq!(q("-1.5Mi").value(), -(3 << 19));
}

#[test]
fn sums_are_exact_and_saturate() {
    let parts = [q("250m"), q("1"), q("750m")];
    assert_eq!(parts.iter().sum::<Quantity>(), q("2"));
    assert_eq!(parts.into_iter().sum::<Quantity>().to_string(), "2");
    assert!(std::iter::empty::<Quantity>().sum::<Quantity>().is_zero());
    let huge = q("1e27");
    let total: Quantity = [huge.clone(), huge.clone()].iter().sum();
    assert_eq!(total, huge.clone() + huge.clone(), "sum saturates like +");
    assert_eq!(total, huge, "saturated at the bound");
    assert!((Quantity::from_value(1) - q("2")).is_negative());
}

#[test]
fn serde_accepts_strings_and_numbers() {
    let list: ResourceList =
        serde_json::from_value(serde_json::json!({"cpu": 2, "memory": "64Mi", "x": 0.5})).unwrap();
    assert_eq!(list[CPU].milli_value(), 2000);
    assert_eq!(list["x"].milli_value(), 500);
    assert_eq!(
        serde_json::to_value(&list[MEMORY]).unwrap(),
        serde_json::json!("64Mi")
    );
    let err = serde_json::from_value::<Quantity>(serde_json::json!("lots")).unwrap_err();
    assert!(err.to_string().contains("\"lots\""), "{err}");
    let err = serde_json::from_value::<Quantity>(serde_json::json!(true)).unwrap_err();
    assert!(err.to_string().contains("boolean `true`"), "{err}");
    // Integers are exact, even those beyond f64's precision.
    let big: Quantity = serde_json::from_str("18446744073709551615").unwrap();
    assert_eq!(big, q("18446744073709551615"));
    let negative: Quantity = serde_json::from_str("-3").unwrap();
    assert_eq!(negative.milli_value(), -3000);
    let tenth: Quantity = serde_json::from_str("0.1").unwrap();
    assert_eq!(tenth.milli_value(), 100);
    assert_eq!(
        serde_json::to_string(&Quantity::from_milli(1500)).unwrap(),
        "\"1500m\""
    );
}

#[test]
fn hash_agrees_with_eq() {
    use std::collections::HashSet;
    let set: HashSet<Quantity> = ["1", "1000m", "1000000u", "0.001k", "1e0"].map(q).into();
    assert_eq!(set.len(), 1);
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "[-+0-9.eEnumkMGTPEi ]{0,24}") {
        if let Ok(parsed) = text.parse::<Quantity>() {
            prop_assert_eq!(parsed.to_string(), text.clone());
            prop_assert_eq!(parsed.to_string().parse::<Quantity>().unwrap(), parsed);
        }
    }

    #[test]
    fn display_parses_back_to_the_same_amount(milli in -1_000_000_000_000i64..1_000_000_000_000) {
        let a = Quantity::from_milli(milli);
        prop_assert_eq!(a.to_string().parse::<Quantity>().unwrap(), a);
    }

    #[test]
    fn addition_and_subtraction_are_exact(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
        let (qa, qb) = (Quantity::from_milli(a), Quantity::from_milli(b));
        prop_assert_eq!(qa.clone() + qb.clone() - qb, qa);
    }

    #[test]
    fn suffixed_text_round_trips(n in 0u32..100_000, suffix in prop::sample::select(vec!["", "m", "k", "M", "G", "Ki", "Mi", "Gi"])) {
        let text = format!("{n}{suffix}");
        let parsed: Quantity = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        let computed = Quantity::from_milli(0) + parsed.clone();
        prop_assert_eq!(computed.to_string().parse::<Quantity>().unwrap(), parsed);
    }
}
