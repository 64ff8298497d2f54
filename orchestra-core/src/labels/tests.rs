use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> StringMap {
    pairs.iter().copied().collect()
}

#[test]
fn kubernetes_matching_rules() {
    let sel: LabelSelector = "app=web,tier!=db,env in (a,b),gpu,!spot".parse().unwrap();
    assert!(sel.matches(&labels(&[("app", "web"), ("env", "a"), ("gpu", "1")])));
    assert!(sel.matches(&labels(&[
        ("app", "web"),
        ("env", "b"),
        ("gpu", ""),
        ("tier", "fe")
    ])));
    assert!(!sel.matches(&labels(&[
        ("app", "web"),
        ("env", "a"),
        ("gpu", "1"),
        ("tier", "db")
    ])));
    assert!(!sel.matches(&labels(&[("app", "web"), ("env", "c"), ("gpu", "1")])));
    assert!(
        !sel.matches(&labels(&[("app", "web"), ("env", "a")])),
        "gpu must exist"
    );
    assert!(!sel.matches(&labels(&[
        ("app", "web"),
        ("env", "a"),
        ("gpu", "1"),
        ("spot", "y")
    ])));
    // NotIn matches an absent key.
    let not_in: LabelSelector = "env notin (prod)".parse().unwrap();
    assert!(not_in.matches(&labels(&[])));
    assert!(LabelSelector::everything().matches(&labels(&[("any", "thing")])));
}

#[test]
fn string_form_maps_to_the_structured_form() {
    let sel: LabelSelector = " app == web , tier!=db, env notin (a, b)".parse().unwrap();
    assert_eq!(sel.match_labels, labels(&[("app", "web")]));
    assert_eq!(
        sel.match_expressions,
        vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: SelectorOperator::NotIn,
                values: vec!["db".into()]
            },
            LabelSelectorRequirement {
                key: "env".into(),
                operator: SelectorOperator::NotIn,
                values: vec!["a".into(), "b".into()]
            },
        ]
    );
    assert_eq!(sel.to_string(), "app=web,tier notin (db),env notin (a,b)");
    let qualified: LabelSelector = "app.kubernetes.io/name=web".parse().unwrap();
    assert_eq!(qualified.match_labels["app.kubernetes.io/name"], "web");
    assert!("".parse::<LabelSelector>().unwrap().is_empty());
}

#[test]
fn whitespace_of_any_kind_is_tolerated() {
    let spaced: LabelSelector = "\tenv\tin\t(a ,\nb) ,\r\n!spot ".parse().unwrap();
    let tight: LabelSelector = "env in(a,b),!spot".parse().unwrap();
    assert_eq!(spaced, tight);
    assert_eq!(tight.to_string(), "env in (a,b),!spot");
}

#[test]
fn operator_words_must_stand_alone() {
    // A key that merely starts with `in` is a key, and `in`/`notin` can be keys.
    let sel: LabelSelector = "in,notin,inside".parse().unwrap();
    let keys: Vec<_> = sel
        .match_expressions
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(keys, ["in", "notin", "inside"]);
    assert!(
        sel.match_expressions
            .iter()
            .all(|r| r.operator == SelectorOperator::Exists)
    );
    let err = "env inx (a)".parse::<LabelSelector>().unwrap_err();
    assert_eq!(err.position, 4, "{err}");
    assert!("in in (a)".parse::<LabelSelector>().is_ok());
}

#[test]
fn conflicting_equalities_select_nothing() {
    let sel: LabelSelector = "a=1,a=2".parse().unwrap();
    assert!(!sel.matches(&labels(&[("a", "1")])));
    assert!(!sel.matches(&labels(&[("a", "2")])));
    let back: LabelSelector = sel.to_string().parse().unwrap();
    assert_eq!(back, sel);
}

#[test]
fn parse_errors_name_the_position() {
    let err = "env in (a,".parse::<LabelSelector>().unwrap_err();
    assert_eq!(err.position, 10, "{err}");
    assert!(err.to_string().contains("\"env in (a,\""), "{err}");
    for bad in [
        "app=web,",
        "=x",
        "app=we b",
        "a b",
        "env in a",
        "Bad Key=1",
        "app=-x",
        "x/y/z=1",
    ] {
        let err = bad.parse::<LabelSelector>().unwrap_err();
        assert!(
            err.to_string().contains(&format!("{bad:?}")),
            "{bad:?} not quoted in {err}"
        );
        assert!(err.position <= bad.len(), "{err:?}");
    }
    let err = "Bad Key=1".parse::<LabelSelector>().unwrap_err();
    assert_eq!(err.position, 4, "the stray token after the key: {err}");
    let err = "app=-x".parse::<LabelSelector>().unwrap_err();
    assert_eq!(err.position, 4, "the bad value: {err}");
}

#[test]
fn validate_names_fields() {
    let sel = LabelSelector::new()
        .match_label("app", "bad value")
        .match_expression("env", SelectorOperator::In, Vec::<String>::new());
    let errors = sel.validate("spec.selector").unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.selector.matchLabels[\"app\"]",
            "spec.selector.matchExpressions[0].values"
        ]
    );
    let exists_with_values =
        LabelSelector::new().match_expression("gpu", SelectorOperator::Exists, ["x"]);
    assert!(exists_with_values.validate("s").is_err());
}

#[test]
fn json_shape_is_kubernetes() {
    let sel: LabelSelector = serde_json::from_value(serde_json::json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["a"]}]
    }))
    .unwrap();
    assert_eq!(sel.to_string(), "app=web,env in (a)");
    assert!(
        serde_json::from_value::<LabelSelector>(
            serde_json::json!({"matchExpressions": [{"key": "x", "operator": "Near"}]})
        )
        .is_err()
    );
}

fn arb_selector() -> impl Strategy<Value = LabelSelector> {
    let key = prop::sample::select(vec!["a", "b", "c", "x.io/d"]);
    let value = prop::sample::select(vec!["1", "2", "3"]);
    let op = prop::sample::select(vec![
        SelectorOperator::In,
        SelectorOperator::NotIn,
        SelectorOperator::Exists,
        SelectorOperator::DoesNotExist,
    ]);
    let req =
        (key.clone(), op, prop::collection::vec(value.clone(), 1..3)).prop_map(|(k, op, vals)| {
            let values = match op {
                SelectorOperator::In | SelectorOperator::NotIn => {
                    vals.into_iter().map(String::from).collect()
                }
                _ => vec![],
            };
            LabelSelectorRequirement {
                key: k.to_owned(),
                operator: op,
                values,
            }
        });
    (
        prop::collection::btree_map(key, value, 0..3),
        prop::collection::vec(req, 0..4),
    )
        .prop_map(|(ml, me)| LabelSelector {
            match_labels: ml
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            match_expressions: me,
        })
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "[a-z0-9=!(), \t./_-]{0,24}|(in|notin|é|ß)[a-z ()=,]{0,8}") {
        if let Ok(sel) = text.parse::<LabelSelector>() {
            let back: LabelSelector = sel.to_string().parse().unwrap();
            prop_assert_eq!(back.to_string(), sel.to_string());
        }
    }

    #[test]
    fn display_then_parse_selects_the_same_sets(
        sel in arb_selector(),
        set in prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c", "x.io/d"]),
            prop::sample::select(vec!["1", "2", "3"]),
            0..4,
        ),
    ) {
        let parsed: LabelSelector = sel.to_string().parse().unwrap();
        let set: StringMap = set.into_iter().collect();
        prop_assert_eq!(parsed.matches(&set), sel.matches(&set), "{} vs {}", sel, parsed);
    }
}

#[test]
fn an_empty_value_set_reads_as_the_empty_value() {
    // Kubernetes' reading; `validate` rejects an `In` without values, which prints so.
    let sel: LabelSelector = "env in ()".parse().unwrap();
    assert_eq!(sel.match_expressions[0].values, [""]);
    assert!(sel.matches(&labels(&[("env", "")])));
    assert!(!sel.matches(&labels(&[("env", "a")])));
}
