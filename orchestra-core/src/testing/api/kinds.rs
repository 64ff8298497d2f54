//! The kit's own kinds: a namespaced [`Widget`] and a cluster-scoped [`Rack`] in the
//! group [`GROUP`], which a server under test serves after [`register_kinds`].

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::registry::Registry;
use crate::resource::{Resource, Scope};

/// The API group of the kit's kinds.
pub const GROUP: &str = "conformance.orchestra.dev";

/// A namespaced kind with a desired state (`spec`) and an observed one (`status`),
/// registered with the [`DefaultStrategy`](crate::registry::DefaultStrategy): any
/// field selects, `spec` is the desired state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Standard metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: WidgetSpec,
    /// The observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WidgetStatus>,
}

/// The desired state of a [`Widget`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    /// A number the cases change.
    pub size: u32,
    /// A string field selectors name (`spec.nodeName`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Free text, for objects of a chosen size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The observed state of a [`Widget`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WidgetStatus {
    /// A number status writes change.
    pub seen: u32,
}

impl Widget {
    /// A widget named `name` of `size`, in no namespace yet.
    pub fn new(name: &str, size: u32) -> Widget {
        Widget {
            metadata: ObjectMeta::named(name),
            spec: WidgetSpec {
                size,
                ..Default::default()
            },
            status: None,
        }
    }

    /// The same widget with the label `key=value`.
    #[must_use]
    pub fn with_label(mut self, key: &str, value: &str) -> Widget {
        self.metadata.labels.insert(key.into(), value.into());
        self
    }
}

impl Resource for Widget {
    const KIND: &'static str = "Widget";
    const API_VERSION: &'static str = "conformance.orchestra.dev/v1";
    const PLURAL: &'static str = "widgets";
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A cluster-scoped kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rack {
    /// Standard metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: RackSpec,
}

/// The desired state of a [`Rack`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RackSpec {
    /// How many slots the rack has.
    pub slots: u32,
}

impl Rack {
    /// A rack named `name` with `slots`.
    pub fn new(name: &str, slots: u32) -> Rack {
        Rack {
            metadata: ObjectMeta::named(name),
            spec: RackSpec { slots },
        }
    }
}

impl Resource for Rack {
    const KIND: &'static str = "Rack";
    const API_VERSION: &'static str = "conformance.orchestra.dev/v1";
    const PLURAL: &'static str = "racks";
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Registers the kit's kinds ([`Widget`], [`Rack`]) with `registry`, each with the
/// default strategy: what a server under test must do before the kit runs.
pub fn register_kinds(registry: &Registry) {
    registry.register::<Widget>();
    registry.register::<Rack>();
}
