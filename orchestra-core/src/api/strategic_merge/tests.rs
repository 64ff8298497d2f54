//! The rules of strategic merge patch, one table per directive, against a small test
//! schema; the two bodies kubectl sends for a deployment; and properties over random
//! JSON.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::api::merge_patch::apply_merge_patch;

static ITEM: PatchSchema = PatchSchema::new(&[
    (
        "nested",
        FieldStrategy::merge_by_key("name", &PatchSchema::EMPTY),
    ),
    ("tags", FieldStrategy::PrimitiveSet),
]);
static INNER: PatchSchema = PatchSchema::new(&[("tags", FieldStrategy::PrimitiveSet)]);
/// `items` merge on `name`, `tags` is a set, `strategy` is `retainKeys`, `plain` is
/// an atomic list, `inner` an object with a set inside.
static TEST: PatchSchema = PatchSchema::new(&[
    ("items", FieldStrategy::merge_by_key("name", &ITEM)),
    ("tags", FieldStrategy::PrimitiveSet),
    (
        "strategy",
        FieldStrategy::object(&PatchSchema::EMPTY).retaining_keys(),
    ),
    ("inner", FieldStrategy::object(&INNER)),
]);

fn apply(original: Value, patch: Value) -> Result<Value, StrategicMergeError> {
    let mut doc = original;
    apply_strategic_merge_patch(&mut doc, &patch, &TEST)?;
    Ok(doc)
}

/// Runs `(name, original, patch, expected)` cases.
fn check(cases: Vec<(&str, Value, Value, Value)>) {
    for (name, original, patch, expected) in cases {
        match apply(original.clone(), patch.clone()) {
            Ok(got) => assert_eq!(got, expected, "{name}: {original} + {patch}"),
            Err(e) => panic!("{name}: {original} + {patch} failed: {e}"),
        }
    }
}

/// Runs `(name, original, patch)` cases that must fail, returning the errors.
fn refuse(cases: Vec<(&str, Value, Value)>) -> Vec<StrategicMergeError> {
    cases
        .into_iter()
        .map(|(name, original, patch)| {
            let mut doc = original.clone();
            let err = apply_strategic_merge_patch(&mut doc, &patch, &TEST)
                .expect_err(&format!("{name}: {original} + {patch} should fail"));
            assert_eq!(doc, original, "{name}: a failed patch changed the target");
            err
        })
        .collect()
}

#[test]
fn maps_merge_as_in_a_merge_patch() {
    check(vec![
        (
            "new and changed keys",
            json!({"a": 1, "b": {"c": 1}}),
            json!({"b": {"d": 2}, "e": "x"}),
            json!({"a": 1, "b": {"c": 1, "d": 2}, "e": "x"}),
        ),
        (
            "null deletes",
            json!({"a": 1, "b": {"c": 1, "d": 2}}),
            json!({"a": null, "b": {"c": null}}),
            json!({"b": {"d": 2}}),
        ),
        (
            "null for an absent key is not kept",
            json!({"a": 1}),
            json!({"z": null, "n": {"x": null, "y": 1}}),
            json!({"a": 1, "n": {"y": 1}}),
        ),
        (
            "a value of another type replaces",
            json!({"a": [1], "b": "s", "c": {"x": 1}}),
            json!({"a": {"k": 1}, "b": {"k": 2}, "c": 3}),
            json!({"a": {"k": 1}, "b": {"k": 2}, "c": 3}),
        ),
        (
            "a list without a strategy is replaced",
            json!({"plain": [{"name": "a", "v": 1}, {"name": "b"}]}),
            json!({"plain": [{"name": "a", "w": 2, "gone": null}]}),
            json!({"plain": [{"name": "a", "w": 2}]}),
        ),
    ]);
}

#[test]
fn patch_directive_on_a_map() {
    check(vec![
        (
            "replace",
            json!({"inner": {"a": 1, "b": 2}}),
            json!({"inner": {"$patch": "replace", "c": 3}}),
            json!({"inner": {"c": 3}}),
        ),
        (
            "delete empties the map",
            json!({"inner": {"a": 1}, "k": 1}),
            json!({"inner": {"$patch": "delete"}}),
            json!({"inner": {}, "k": 1}),
        ),
        (
            "delete of an absent map leaves it absent",
            json!({"k": 1}),
            json!({"inner": {"$patch": "delete"}}),
            json!({"k": 1}),
        ),
        (
            "replace with nothing else empties the map",
            json!({"inner": {"a": 1}}),
            json!({"inner": {"$patch": "replace"}}),
            json!({"inner": {}}),
        ),
        (
            "replace of an absent map sets it",
            json!({}),
            json!({"inner": {"$patch": "replace", "a": 1, "b": null}}),
            json!({"inner": {"a": 1}}),
        ),
    ]);
    let errs = refuse(vec![
        (
            "merge is no map directive",
            json!({"inner": {"a": 1}}),
            json!({"inner": {"$patch": "merge", "b": 1}}),
        ),
        ("unknown value", json!({}), json!({"$patch": "explode"})),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::UnknownDirective { .. })),
        "{errs:?}"
    );
}

#[test]
fn lists_merge_on_their_key() {
    let two = || json!({"items": [{"name": "a", "v": 1}, {"name": "b", "v": 1}]});
    check(vec![
        (
            "a matching item merges",
            two(),
            json!({"items": [{"name": "b", "v": 2, "w": 3}]}),
            json!({"items": [{"name": "a", "v": 1}, {"name": "b", "v": 2, "w": 3}]}),
        ),
        (
            // apimachinery merges by appending, then orders the patch's items before
            // the object's items they did not stand after: without a
            // `$setElementOrder`, a new item comes first.
            "a new item comes before the items the patch does not name",
            two(),
            json!({"items": [{"name": "c"}]}),
            json!({"items": [{"name": "c"}, {"name": "a", "v": 1}, {"name": "b", "v": 1}]}),
        ),
        (
            "a new item after a named one follows it",
            two(),
            json!({"items": [{"name": "a", "v": 2}, {"name": "c"}]}),
            json!({"items": [{"name": "a", "v": 2}, {"name": "c"}, {"name": "b", "v": 1}]}),
        ),
        (
            "null in an item deletes its field",
            two(),
            json!({"items": [{"name": "a", "v": null}]}),
            json!({"items": [{"name": "a"}, {"name": "b", "v": 1}]}),
        ),
        (
            "$patch delete removes the item",
            two(),
            json!({"items": [{"name": "a", "$patch": "delete"}]}),
            json!({"items": [{"name": "b", "v": 1}]}),
        ),
        (
            "deleting an absent item changes nothing",
            two(),
            json!({"items": [{"name": "z", "$patch": "delete"}]}),
            two(),
        ),
        (
            "$patch replace makes the other items the list",
            two(),
            json!({"items": [{"name": "x", "gone": null}, {"$patch": "replace"}]}),
            json!({"items": [{"name": "x"}]}),
        ),
        (
            "$patch delete removes every item with the key",
            json!({"items": [{"name": "a", "v": 1}, {"name": "b"}, {"name": "a", "v": 2}]}),
            json!({"items": [{"name": "a", "$patch": "delete"}]}),
            json!({"items": [{"name": "b"}]}),
        ),
        (
            "$patch replace alone empties the list",
            two(),
            json!({"items": [{"$patch": "replace"}]}),
            json!({"items": []}),
        ),
        (
            "empty lists merge to an empty list",
            json!({"items": []}),
            json!({"items": []}),
            json!({"items": []}),
        ),
        (
            "an empty patch list changes nothing",
            two(),
            json!({"items": []}),
            two(),
        ),
        (
            "lists inside merged items merge by their own schema",
            json!({"items": [{"name": "a", "nested": [{"name": "x", "v": 1}], "tags": ["p"]}]}),
            json!({"items": [{"name": "a", "nested": [{"name": "y"}, {"name": "x", "v": 2}], "tags": ["q"]}]}),
            json!({"items": [{"name": "a", "nested": [{"name": "y"}, {"name": "x", "v": 2}], "tags": ["q", "p"]}]}),
        ),
        (
            "patch items keep the patch's order, the others stay in place",
            json!({"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            json!({"items": [{"name": "c", "v": 1}, {"name": "a", "v": 1}]}),
            json!({"items": [{"name": "b"}, {"name": "c", "v": 1}, {"name": "a", "v": 1}]}),
        ),
        (
            "a list the object lacks is the patch's, without directive items",
            json!({}),
            json!({"items": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}),
            json!({"items": [{"name": "a"}]}),
        ),
    ]);
    let errs = refuse(vec![
        (
            "an item without its key",
            two(),
            json!({"items": [{"v": 3}]}),
        ),
        (
            "a delete without the key",
            two(),
            json!({"items": [{"$patch": "delete"}]}),
        ),
        (
            "an object item without its key",
            json!({"items": [{"v": 1}]}),
            json!({"items": [{"name": "a"}]}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::MissingMergeKey { key: "name", .. })),
        "{errs:?}"
    );
    let errs = refuse(vec![
        (
            "merge in an item",
            two(),
            json!({"items": [{"name": "a", "$patch": "merge"}]}),
        ),
        (
            "unknown in an item",
            two(),
            json!({"items": [{"name": "a", "$patch": "nope"}]}),
        ),
    ]);
    assert!(matches!(
        errs[0],
        StrategicMergeError::InvalidDirective { .. }
    ));
    assert!(matches!(
        errs[1],
        StrategicMergeError::UnknownDirective { .. }
    ));
}

#[test]
fn error_paths_name_the_item() {
    let err = apply(
        json!({"items": [{"name": "a", "nested": [{"name": "x"}]}]}),
        json!({"items": [{"name": "a", "nested": [{"v": 1}]}]}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "items[name=a].nested: an item of a list merged on \"name\" has no \"name\": {\"v\":1}"
    );
}

#[test]
fn primitive_sets_are_unions() {
    check(vec![
        (
            "union",
            json!({"tags": ["a", "b"]}),
            json!({"tags": ["b", "c"]}),
            json!({"tags": ["a", "b", "c"]}),
        ),
        (
            "new values come first, as new items of a merging list do",
            json!({"tags": ["a", "b"]}),
            json!({"tags": ["c"]}),
            json!({"tags": ["c", "a", "b"]}),
        ),
        (
            "duplicates are dropped",
            json!({"tags": [1, 1, 2]}),
            json!({"tags": [2, 3, 3]}),
            json!({"tags": [1, 2, 3]}),
        ),
        (
            "the patch's values keep its order",
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["c", "a"]}),
            json!({"tags": ["b", "c", "a"]}),
        ),
        (
            "a set inside an object",
            json!({"inner": {"tags": ["x"]}}),
            json!({"inner": {"tags": ["y"]}}),
            json!({"inner": {"tags": ["y", "x"]}}),
        ),
        (
            "a set not in the schema is replaced",
            json!({"inner": {"other": ["x"]}}),
            json!({"inner": {"other": ["y"]}}),
            json!({"inner": {"other": ["y"]}}),
        ),
    ]);
    let errs = refuse(vec![
        ("mixed types", json!({"tags": ["a"]}), json!({"tags": [1]})),
        (
            "lists of lists",
            json!({"tags": [["a"]]}),
            json!({"tags": [["b"]]}),
        ),
        (
            "objects in a set",
            json!({"tags": [{"a": 1}]}),
            json!({"tags": [{"b": 1}]}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::UnmergeableList { .. })),
        "{errs:?}"
    );
}

#[test]
fn delete_from_primitive_list() {
    check(vec![
        (
            "removes the values",
            json!({"tags": ["a", "b", "c", "b"]}),
            json!({"$deleteFromPrimitiveList/tags": ["b", "z"]}),
            json!({"tags": ["a", "c"]}),
        ),
        (
            "after the additions",
            json!({"tags": ["a"]}),
            json!({"tags": ["b", "c"], "$deleteFromPrimitiveList/tags": ["a", "c"]}),
            json!({"tags": ["b"]}),
        ),
        (
            "an absent list stays absent",
            json!({}),
            json!({"$deleteFromPrimitiveList/tags": ["a"]}),
            json!({}),
        ),
        (
            "an atomic list too",
            json!({"plain": [1, 2]}),
            json!({"$deleteFromPrimitiveList/plain": [2]}),
            json!({"plain": [1]}),
        ),
    ]);
    let errs = refuse(vec![
        (
            "not a list",
            json!({"tags": ["a"]}),
            json!({"$deleteFromPrimitiveList/tags": "a"}),
        ),
        (
            "objects",
            json!({"tags": ["a"]}),
            json!({"$deleteFromPrimitiveList/tags": [{"a": 1}]}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::InvalidDirective { .. })),
        "{errs:?}"
    );
}

#[test]
fn set_element_order() {
    let abc = || json!({"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
    check(vec![
        (
            "orders the list without changing it",
            abc(),
            json!({"$setElementOrder/items": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}),
            json!({"items": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}),
        ),
        (
            "a new item goes where the order puts it",
            json!({"items": [{"name": "a"}, {"name": "b"}]}),
            json!({
                "$setElementOrder/items": [{"name": "a"}, {"name": "d"}, {"name": "b"}],
                "items": [{"name": "d", "v": 1}],
            }),
            json!({"items": [{"name": "a"}, {"name": "d", "v": 1}, {"name": "b"}]}),
        ),
        (
            "unlisted items stay where they were relative to the listed ones",
            json!({"items": [{"name": "a"}, {"name": "web", "image": "1"}, {"name": "b"}]}),
            json!({
                "$setElementOrder/items": [{"name": "web"}],
                "items": [{"name": "web", "image": "2"}],
            }),
            json!({"items": [{"name": "a"}, {"name": "web", "image": "2"}, {"name": "b"}]}),
        ),
        (
            "deleted items need no place in the order",
            abc(),
            json!({
                "$setElementOrder/items": [{"name": "c"}, {"name": "a"}],
                "items": [{"name": "b", "$patch": "delete"}],
            }),
            json!({"items": [{"name": "c"}, {"name": "a"}]}),
        ),
        (
            "a primitive set",
            json!({"tags": ["x", "y", "z"]}),
            json!({"$setElementOrder/tags": ["z", "w", "y", "x"], "tags": ["w"]}),
            json!({"tags": ["z", "w", "y", "x"]}),
        ),
        (
            "with deletions from the set",
            json!({"tags": ["x", "y", "z"]}),
            json!({"$setElementOrder/tags": ["z", "x"], "$deleteFromPrimitiveList/tags": ["y"]}),
            json!({"tags": ["z", "x"]}),
        ),
        (
            "a list neither has stays absent",
            json!({}),
            json!({"$setElementOrder/items": [{"name": "a"}]}),
            json!({}),
        ),
        (
            "a list only the patch has",
            json!({}),
            json!({
                "$setElementOrder/items": [{"name": "b"}, {"name": "a"}],
                "items": [{"name": "b"}, {"name": "a"}],
            }),
            json!({"items": [{"name": "b"}, {"name": "a"}]}),
        ),
    ]);
    let errs = refuse(vec![
        (
            "the patch's items out of order",
            abc(),
            json!({
                "$setElementOrder/items": [{"name": "a"}, {"name": "b"}],
                "items": [{"name": "b", "v": 1}, {"name": "a", "v": 1}],
            }),
        ),
        (
            "a patch item not in the order",
            abc(),
            json!({"$setElementOrder/items": [{"name": "a"}], "items": [{"name": "q"}]}),
        ),
        (
            "not a list",
            abc(),
            json!({"$setElementOrder/items": {"name": "a"}}),
        ),
        (
            "the patch's field is not a list",
            abc(),
            json!({"$setElementOrder/items": [{"name": "a"}], "items": {"name": "a"}}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::InvalidDirective { .. })),
        "{errs:?}"
    );
    let err = apply(abc(), json!({"$setElementOrder/items": [{"id": "a"}]})).unwrap_err();
    assert!(
        matches!(err, StrategicMergeError::MissingMergeKey { .. }),
        "{err}"
    );
}

#[test]
fn retain_keys() {
    let rolling =
        || json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
    check(vec![
        (
            "clears the fields not listed",
            rolling(),
            json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}),
            json!({"strategy": {"type": "Recreate"}}),
        ),
        (
            "with an explicit null",
            rolling(),
            json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}),
            json!({"strategy": {"type": "Recreate"}}),
        ),
        (
            "listed fields still merge",
            rolling(),
            json!({"strategy": {"$retainKeys": ["type", "rollingUpdate"], "rollingUpdate": {"maxUnavailable": 0}}}),
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}),
        ),
        (
            "in a list item",
            json!({"items": [{"name": "v", "emptyDir": {}, "other": 1}]}),
            json!({"items": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}),
            json!({"items": [{"name": "v", "hostPath": {"path": "/x"}}]}),
        ),
    ]);
    let errs = refuse(vec![
        (
            "a patched field not listed",
            rolling(),
            json!({"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}),
        ),
        (
            "not a list",
            rolling(),
            json!({"strategy": {"$retainKeys": "type"}}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::InvalidDirective { .. })),
        "{errs:?}"
    );
}

#[test]
fn unknown_directives_are_refused() {
    let errs = refuse(vec![
        ("at the top", json!({}), json!({"$replace": true})),
        (
            "nested",
            json!({"inner": {}}),
            json!({"inner": {"$foo": 1}}),
        ),
        ("in a new value", json!({}), json!({"inner": {"$foo": 1}})),
        (
            "an empty field name",
            json!({}),
            json!({"$setElementOrder/": []}),
        ),
    ]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, StrategicMergeError::UnknownDirective { .. })),
        "{errs:?}"
    );
    let err = apply(json!({}), json!([1])).unwrap_err();
    assert_eq!(err, StrategicMergeError::NotAnObject { found: "array" });
    assert_eq!(
        apply(json!(null), json!({"a": {"b": 1}})).unwrap(),
        json!({"a": {"b": 1}}),
        "a target that is not an object is an empty one"
    );
}

/// JSON without arrays or `$`-keys, with keys that include the test schema's fields.
fn map_only_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop::collection::btree_map(
            prop_oneof![
                Just("a".to_owned()),
                Just("b".to_owned()),
                Just("items".to_owned()),
                Just("tags".to_owned()),
                Just("inner".to_owned()),
            ],
            inner,
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

/// Any JSON, with directive keys and values mixed in.
fn directive_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..3).prop_map(Value::from),
        prop_oneof![
            Just("a"),
            Just("x"),
            Just("replace"),
            Just("delete"),
            Just("merge"),
            Just("name"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name"),
                    Just("a"),
                    Just("items"),
                    Just("tags"),
                    Just("inner"),
                    Just("nested"),
                    Just("strategy"),
                    Just("$patch"),
                    Just("$retainKeys"),
                    Just("$setElementOrder/items"),
                    Just("$setElementOrder/tags"),
                    Just("$deleteFromPrimitiveList/tags"),
                    Just("$bogus"),
                ]
                .prop_map(str::to_owned),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Without lists or directives, a strategic merge patch is a JSON merge patch.
    #[test]
    fn without_lists_it_is_a_merge_patch(
        target in map_only_json(),
        patch in map_only_json().prop_filter("an object", Value::is_object),
    ) {
        let target = if target.is_object() { target } else { json!({}) };
        let mut strategic = target.clone();
        apply_strategic_merge_patch(&mut strategic, &patch, &TEST).unwrap();
        let mut merge = target;
        apply_merge_patch(&mut merge, &patch);
        prop_assert_eq!(strategic, merge);
    }

    /// Any input either applies or is refused, and a refusal leaves the target alone.
    #[test]
    fn never_panics(target in directive_json(), patch in directive_json()) {
        for schema in [&TEST, &schemas::DEPLOYMENT, &PatchSchema::EMPTY] {
            let mut doc = target.clone();
            if apply_strategic_merge_patch(&mut doc, &patch, schema).is_err() {
                prop_assert_eq!(&doc, &target);
            }
        }
    }

    /// A set's merge holds every value of both lists, each once.
    #[test]
    fn a_set_merge_is_the_union(
        old in prop::collection::vec(0u8..6, 0..6),
        new in prop::collection::vec(0u8..6, 0..6),
    ) {
        let got = apply(json!({"tags": old}), json!({"tags": new})).unwrap();
        let got: Vec<u8> = serde_json::from_value(got["tags"].clone()).unwrap();
        let mut want: Vec<u8> = old.iter().chain(&new).copied().collect();
        want.sort_unstable();
        want.dedup();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted.len(), got.len(), "no value twice");
        prop_assert_eq!(sorted, want);
    }
}
