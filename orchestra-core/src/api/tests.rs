//! Fixtures for the API's and the registry's unit tests. Behaviour against a real
//! store is tested by the Api conformance kit (`crate::testing::api`, run by the
//! workspace's `tests/api_conformance.rs`, where a `MemoryStore` is available) and,
//! for what only the registry's store shows, by `tests/registry_objects.rs`.

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::{Resource, Scope};

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
