//! Fixtures for the API's unit tests. Behaviour against a real store is tested in the
//! workspace's `tests/api_*.rs`, where a `MemoryStore` is available.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::{Resource, Scope};
use crate::store::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchStream};

/// A small namespaced kind with a spec and a status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Widget {
    pub metadata: ObjectMeta,
    pub spec: WidgetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WidgetStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WidgetSpec {
    pub size: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WidgetStatus {
    pub seen: u32,
}

impl Widget {
    pub fn new(namespace: &str, name: &str, size: u32) -> Widget {
        Widget {
            metadata: ObjectMeta::namespaced(namespace, name),
            spec: WidgetSpec { size },
            status: None,
        }
    }
}

impl Resource for Widget {
    const KIND: &'static str = "Widget";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "widgets";
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A store that refuses everything: for tests that never reach the store.
pub(crate) struct NullStore;

fn refused() -> StoreError {
    StoreError::unavailable("null store")
}

#[async_trait]
impl Store for NullStore {
    async fn get(&self, _: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        Err(refused())
    }
    async fn list(&self, _: &[u8], _: ListOptions) -> Result<ListResult, StoreError> {
        Err(refused())
    }
    async fn create(&self, _: &[u8], _: Bytes) -> Result<KeyValue, StoreError> {
        Err(refused())
    }
    async fn update(&self, _: &[u8], _: Bytes, _: Revision) -> Result<KeyValue, StoreError> {
        Err(refused())
    }
    async fn delete(&self, _: &[u8], _: Option<Revision>) -> Result<KeyValue, StoreError> {
        Err(refused())
    }
    async fn watch(&self, _: &[u8], _: Revision) -> Result<WatchStream, StoreError> {
        Err(refused())
    }
    async fn compact(&self, _: Revision) -> Result<(), StoreError> {
        Err(refused())
    }
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Err(refused())
    }
    async fn compact_revision(&self) -> Result<Revision, StoreError> {
        Err(refused())
    }
}

#[test]
fn keys_are_group_qualified_and_values_lead_with_type() {
    let prefix = super::codec::kind_prefix::<Widget>("/registry", None);
    assert_eq!(prefix, "/registry/example.dev/widgets/");
    let bytes = super::codec::encode(&Widget::new("default", "w", 3)).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with(r#"{"apiVersion":"example.dev/v1","kind":"Widget","metadata":"#),
        "{text}"
    );
    let back: Widget = super::codec::decode(b"k", &Bytes::from(text), 42).unwrap();
    assert_eq!(back.spec.size, 3);
    assert_eq!(back.metadata.resource_version.as_deref(), Some("42"));
}

#[test]
fn corrupt_values_name_their_key() {
    let err = super::codec::decode::<Widget>(b"/registry/w", &Bytes::from_static(b"{oops"), 1)
        .unwrap_err();
    assert!(err.to_string().contains("/registry/w"), "{err}");
}
