use super::pods::{pod, running, set_ready};
use super::*;

/// The Deployment table of kubectl-wire.md §2.5, as kube-apiserver sends it.
#[test]
fn a_deployment_table_has_the_wire_shape_kubectl_reads() {
    let mut d = Deployment::new("my-web-server", 1000, "web-server:1");
    d.spec.template.spec.containers[0].name = "web-server".into();
    d.metadata = meta("my-web-server", 4);
    d.metadata.uid = Some("5c1e".into());
    d.metadata.resource_version = Some("111".into());
    d.metadata
        .labels
        .insert("app".into(), "my-web-server".into());
    d.status = Some(DeploymentStatus {
        replicas: 1000,
        updated_replicas: 1000,
        ready_replicas: 1000,
        available_replicas: 1000,
        ..Default::default()
    });
    let table = table_of(&[d], ListMeta::at(111), now(), &TableOptions::default()).unwrap();
    let wire = serde_json::to_string(&table).unwrap();
    assert!(
        wire.starts_with(r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"111"},"columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"#),
        "{wire}"
    );

    let created = serde_json::to_value(ago(4)).unwrap();
    let mut expected = json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"111"},
     "columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"…","priority":0},
       {"name":"Ready","type":"string","format":"","description":"…","priority":0},
       {"name":"Up-to-date","type":"integer","format":"","description":"…","priority":0},
       {"name":"Available","type":"integer","format":"","description":"…","priority":0},
       {"name":"Age","type":"string","format":"","description":"…","priority":0},
       {"name":"Containers","type":"string","format":"","description":"…","priority":1},
       {"name":"Images","type":"string","format":"","description":"…","priority":1},
       {"name":"Selector","type":"string","format":"","description":"…","priority":1}],
     "rows":[{"cells":["my-web-server","1000/1000",1000,1000,"4s","web-server","web-server:1","app=my-web-server"],
              "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"my-web-server","namespace":"default","uid":"5c1e","resourceVersion":"111","creationTimestamp":created,"labels":{"app":"my-web-server"}}}}]});
    // The example elides the descriptions: take ours.
    for (column, ours) in expected["columnDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(Deployment::columns())
    {
        column["description"] = json!(ours.description);
    }
    let actual: Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(actual, expected);

    // It reads back, and kube-apiserver's `null` columns read as none.
    let back: Table = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, table);
    let headless: Table = serde_json::from_value(json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
        "columnDefinitions": null, "rows": [{"cells": ["x"]}]
    }))
    .unwrap();
    assert!(headless.column_definitions.is_empty());
    assert_eq!(headless.rows[0].cells, [json!("x")]);
}

#[test]
fn rows_carry_the_object_as_asked_and_headers_can_be_left_out() {
    let lease = Lease {
        metadata: meta("l", 5),
        spec: LeaseSpec::default(),
    };
    let options = TableOptions::default()
        .include_object(IncludeObject::Object)
        .no_headers(true);
    let table = table_of(
        std::slice::from_ref(&lease),
        ListMeta::default(),
        now(),
        &options,
    )
    .unwrap();
    assert!(table.column_definitions.is_empty());
    let object = table.rows[0].object.as_ref().unwrap();
    assert_eq!(object["kind"], "Lease");
    assert_eq!(object["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(object["spec"], json!({}));
    let wire = serde_json::to_value(&table).unwrap();
    assert_eq!(wire["metadata"], json!({}));
    assert_eq!(wire["columnDefinitions"], json!([]));

    let bare = row_of(&lease, now(), IncludeObject::None).unwrap();
    assert_eq!(bare.object, None);
    assert_eq!(
        serde_json::to_value(&bare).unwrap(),
        json!({"cells": ["l", "", "5s"]})
    );

    assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
    assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("object"), None);
}

#[test]
fn a_printer_gives_the_same_row_from_a_typed_body_and_from_json() {
    let mut pod = pod("web-1", 1, PodPhase::Running, vec![running("c0", true, 0)]);
    set_ready(&mut pod, true);
    let printer = printer_for(&Pod::api_resource());
    let typed = ObjectBody::from_object(pod.clone());
    let json = ObjectBody::from_json(typed.to_json().unwrap());
    for include in [
        IncludeObject::None,
        IncludeObject::Metadata,
        IncludeObject::Object,
    ] {
        let from_typed = printer.row(&typed, now(), include).unwrap();
        let from_json = printer.row(&json, now(), include).unwrap();
        assert_eq!(from_typed, from_json, "{include:?}");
        assert_eq!(from_typed.cells, pod.cells(now()));
    }
    let table = printer
        .table(&[typed], ListMeta::at(9), now(), &TableOptions::default())
        .unwrap();
    assert_eq!(table.column_definitions, Pod::columns());
    assert_eq!(table.rows.len(), 1);

    let not_a_pod = ObjectBody::from_json(r#"{"metadata":{"name":"x"},"spec":{"containers":7}}"#);
    let err = printer
        .row(&not_a_pod, now(), IncludeObject::None)
        .unwrap_err();
    assert!(
        matches!(err, TableError::Decode { ref kind, .. } if kind == "Pod"),
        "{err}"
    );
}

#[test]
fn a_kind_without_columns_gets_name_and_age() {
    let gadgets = ApiResource::new("example.dev", "v1", "Gadget", "gadgets", Scope::Namespaced);
    assert!(builtin_printer(&gadgets).is_none());
    for kind in [
        Node::api_resource(),
        Deployment::api_resource(),
        ReplicaSet::api_resource(),
        HorizontalPodAutoscaler::api_resource(),
        Event::api_resource(),
        Lease::api_resource(),
    ] {
        assert!(builtin_printer(&kind).is_some(), "{kind:?}");
    }
    let printer = printer_for(&gadgets);
    let body = ObjectBody::from_json(
        r#"{"apiVersion":"example.dev/v1","kind":"Gadget","metadata":{"name":"g1","creationTimestamp":"2027-01-15T07:59:00Z","labels":{"a":"b"}},"spec":{"size":3}}"#,
    );
    let now: Time = "2027-01-15T08:00:00Z".parse().unwrap();
    let table = printer
        .table(
            std::slice::from_ref(&body),
            ListMeta::at(3),
            now,
            &TableOptions::default(),
        )
        .unwrap();
    let names: Vec<&str> = table
        .column_definitions
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(table.rows[0].cells, [json!("g1"), json!("60s")]);
    let object = table.rows[0].object.as_ref().unwrap();
    assert_eq!(object["kind"], "PartialObjectMetadata");
    assert_eq!(object["metadata"]["labels"], json!({"a": "b"}));
    assert_eq!(object.get("spec"), None);

    let whole = printer.row(&body, now, IncludeObject::Object).unwrap();
    assert_eq!(whole.object.unwrap()["spec"], json!({"size": 3}));
}

#[test]
fn cells_that_do_not_match_the_columns_are_an_error_not_a_bad_table() {
    #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    struct Short {
        metadata: ObjectMeta,
    }
    impl Resource for Short {
        const KIND: &'static str = "Short";
        const API_VERSION: &'static str = "example.dev/v1";
        const PLURAL: &'static str = "shorts";
        const SCOPE: Scope = Scope::Cluster;
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn meta_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    }
    impl Columns for Short {
        fn columns() -> Vec<TableColumnDefinition> {
            vec![
                TableColumnDefinition::name_column(),
                TableColumnDefinition::age_column(),
            ]
        }
        fn cells(&self, _now: Time) -> Vec<Value> {
            vec![json!("only")]
        }
    }
    let err = table_of(
        &[Short::default()],
        ListMeta::default(),
        now(),
        &TableOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TableError::CellCount {
                columns: 2,
                cells: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "Short gave 1 cells for its 2 columns");
}
