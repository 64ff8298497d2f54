use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

#[test]
fn round_trips_as_a_json_object_in_key_order() {
    let map = StringMap::from([("tier", "web"), ("app", "shop"), ("x.io/zone", "a")]);
    let json = serde_json::to_string(&map).unwrap();
    assert_eq!(json, r#"{"app":"shop","tier":"web","x.io/zone":"a"}"#);
    assert_eq!(serde_json::from_str::<StringMap>(&json).unwrap(), map);
    assert_eq!(serde_json::to_string(&StringMap::new()).unwrap(), "{}");
}

#[test]
fn the_wire_format_is_btreemaps() {
    let pairs = [("b", "2"), ("a", "1"), ("c", "")];
    let tree: BTreeMap<&str, &str> = pairs.into_iter().collect();
    let map = StringMap::from(pairs);
    assert_eq!(
        serde_json::to_string(&map).unwrap(),
        serde_json::to_string(&tree).unwrap()
    );
}

#[test]
fn decodes_unsorted_input_into_key_order() {
    let map: StringMap = serde_json::from_str(r#"{"z":"1","a":"2","m":"3"}"#).unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
    assert_eq!(map.values().collect::<Vec<_>>(), ["2", "3", "1"]);
}

#[test]
fn a_key_given_twice_keeps_its_last_value() {
    // Kubernetes' decoder (Go's encoding/json) and serde_json's BTreeMap both do this.
    let map: StringMap = serde_json::from_str(r#"{"a":"1","b":"2","a":"3","a":"4"}"#).unwrap();
    assert_eq!(map, StringMap::from([("a", "4"), ("b", "2")]));
    let tree: BTreeMap<String, String> =
        serde_json::from_str(r#"{"a":"1","b":"2","a":"3","a":"4"}"#).unwrap();
    assert_eq!(map.into_iter().collect::<BTreeMap<_, _>>(), tree);

    let collected: StringMap = [("k", "first"), ("k", "second")].into_iter().collect();
    assert_eq!(collected["k"], "second");
}

#[test]
fn rejects_what_is_not_a_map_of_strings() {
    let err = serde_json::from_str::<StringMap>(r#"{"a":1}"#).unwrap_err();
    assert!(err.to_string().contains("expected a string"), "{err}");
    let err = serde_json::from_str::<StringMap>(r#"["a"]"#).unwrap_err();
    assert!(
        err.to_string().contains("a map of strings to strings"),
        "{err}"
    );
}

#[test]
fn decoding_holds_exactly_the_entries() {
    for n in [0, 1, 2, 3, 5, 17, 100] {
        let json = serde_json::to_string(
            &(0..n)
                .map(|i| (format!("key-{i:03}"), "v".to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
        .unwrap();
        let map: StringMap = serde_json::from_str(&json).unwrap();
        assert_eq!(map.len(), n);
        let entries = map.entries.into_vec();
        assert_eq!(entries.capacity(), n, "{n} entries");
        assert!(
            entries
                .iter()
                .all(|(k, v)| k.capacity() == k.len() && v.capacity() == 1)
        );
    }
}

#[test]
fn insert_and_remove_keep_key_order() {
    let mut map = StringMap::new();
    assert_eq!(map.insert("m".into(), "1".into()), None);
    assert_eq!(map.insert("a".into(), "2".into()), None);
    assert_eq!(map.insert("z".into(), "3".into()), None);
    assert_eq!(map.insert("m".into(), "4".into()), Some("1".to_owned()));
    assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
    assert_eq!(map.remove("m"), Some("4".to_owned()));
    assert_eq!(map.remove("m"), None);
    assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "z"]);
    assert!(map.contains_key("z") && !map.contains_key("m"));
    assert_eq!(map.len(), 2);
    map.clear();
    assert!(map.is_empty());
}

#[test]
fn extend_and_retain() {
    let mut map = StringMap::from([("b", "1"), ("d", "2")]);
    map.extend([("c", "3"), ("b", "4"), ("a", "5")]);
    assert_eq!(
        map,
        StringMap::from([("a", "5"), ("b", "4"), ("c", "3"), ("d", "2")])
    );
    map.retain(|k, v| {
        v.push('!');
        k != "c"
    });
    assert_eq!(
        map,
        StringMap::from([("a", "5!"), ("b", "4!"), ("d", "2!")])
    );
}

#[test]
fn debug_prints_a_map() {
    let map = StringMap::from([("app", "web")]);
    assert_eq!(format!("{map:?}"), r#"{"app": "web"}"#);
}

#[test]
#[should_panic(expected = "no entry for key \"gone\"")]
fn indexing_an_absent_key_panics() {
    let _ = &StringMap::new()["gone"];
}

#[derive(Clone, Debug)]
enum Op {
    Insert(String, String),
    Remove(String),
    Extend(Vec<(String, String)>),
    Retain(String),
}

fn arb_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "a", "b", "c", "app", "x.io/zone", "zz"]).prop_map(String::from)
}

fn arb_op() -> impl Strategy<Value = Op> {
    let value = "[a-c]{0,2}";
    prop_oneof![
        4 => (arb_key(), value).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => arb_key().prop_map(Op::Remove),
        1 => prop::collection::vec((arb_key(), value), 0..4).prop_map(Op::Extend),
        1 => arb_key().prop_map(Op::Retain),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_btreemap(ops in prop::collection::vec(arb_op(), 0..40)) {
        let mut map = StringMap::new();
        let mut model = BTreeMap::<String, String>::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    prop_assert_eq!(map.insert(k.clone(), v.clone()), model.insert(k, v));
                }
                Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                Op::Extend(pairs) => {
                    map.extend(pairs.clone());
                    model.extend(pairs);
                }
                Op::Retain(k) => {
                    map.retain(|key, _| *key != k);
                    model.retain(|key, _| *key != k);
                }
            }
            prop_assert_eq!(map.len(), model.len());
            prop_assert!(map.iter().eq(model.iter()));
            for k in ["", "a", "b", "app", "nope"] {
                prop_assert_eq!(map.get(k), model.get(k));
                prop_assert_eq!(map.contains_key(k), model.contains_key(k));
            }
            let json = serde_json::to_string(&map).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&model).unwrap());
            prop_assert_eq!(&serde_json::from_str::<StringMap>(&json).unwrap(), &map);
        }
        prop_assert_eq!(map.clone().into_iter().collect::<BTreeMap<_, _>>(), model.clone());
        prop_assert_eq!(model.into_iter().collect::<StringMap>(), map);
    }
}

#[test]
fn a_subset_has_every_entry_with_the_same_value() {
    let labels: StringMap = [("app", "web"), ("tier", "front")].into_iter().collect();
    let app: StringMap = [("app", "web")].into_iter().collect();
    let other: StringMap = [("app", "db")].into_iter().collect();
    assert!(app.is_subset_of(&labels));
    assert!(
        StringMap::new().is_subset_of(&labels),
        "the empty map is in every map"
    );
    assert!(!other.is_subset_of(&labels), "same key, other value");
    assert!(!labels.is_subset_of(&app));
}
