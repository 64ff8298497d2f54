//! The Node table: Name, Status, Roles, Age, Version | Internal-IP, External-IP,
//! OS-Image, Kernel-Version, Container-Runtime.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Columns, TableColumnDefinition, age, name_cell};
use crate::kinds::{ConditionStatus, Node};
use crate::time::Time;

/// Labels `node-role.kubernetes.io/<role>` give a node a role.
const ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
/// The older label `kubernetes.io/role: <role>` gives one too.
const LEGACY_ROLE_LABEL: &str = "kubernetes.io/role";

impl Columns for Node {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::string(
                "Status",
                "Whether the node is ready, and whether new pods may be placed on it.",
            ),
            TableColumnDefinition::string("Roles", "The roles the node's labels give it."),
            TableColumnDefinition::age_column(),
            TableColumnDefinition::string("Version", "The node agent's version."),
            TableColumnDefinition::string("Internal-IP", "The node's first internal address.")
                .wide(),
            TableColumnDefinition::string("External-IP", "The node's first external address.")
                .wide(),
            TableColumnDefinition::string("OS-Image", "The node's operating system.").wide(),
            TableColumnDefinition::string("Kernel-Version", "The node's kernel version.").wide(),
            TableColumnDefinition::string(
                "Container-Runtime",
                "The container runtime and its version.",
            )
            .wide(),
        ]
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        // Only the Ready condition counts towards the status.
        let mut status = vec![match self.condition("Ready") {
            Some(c) if c.status == ConditionStatus::True => "Ready",
            Some(_) => "NotReady",
            None => "Unknown",
        }];
        if self.spec.unschedulable {
            status.push("SchedulingDisabled");
        }
        let roles = roles(self);
        let address = |type_: &str| {
            self.status
                .iter()
                .flat_map(|s| &s.addresses)
                .find(|a| a.type_ == type_)
                .map_or("<none>", |a| a.address.as_str())
        };
        let info = self
            .status
            .as_ref()
            .and_then(|s| s.node_info.clone())
            .unwrap_or_default();
        let or_unknown = |v: String| {
            if v.is_empty() {
                "<unknown>".to_owned()
            } else {
                v
            }
        };
        vec![
            name_cell(&self.metadata),
            Value::from(status.join(",")),
            Value::from(if roles.is_empty() {
                "<none>".to_owned()
            } else {
                roles
            }),
            Value::from(age(self.metadata.creation_timestamp, now)),
            // An empty version stays empty; the wide system cells say `<unknown>`.
            Value::from(info.kubelet_version),
            Value::from(address("InternalIP")),
            Value::from(address("ExternalIP")),
            Value::from(or_unknown(info.os_image)),
            Value::from(or_unknown(info.kernel_version)),
            Value::from(or_unknown(info.container_runtime_version)),
        ]
    }
}

/// The node's roles, sorted and comma-separated.
fn roles(node: &Node) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in node.metadata.labels.iter() {
        if let Some(role) = key.strip_prefix(ROLE_LABEL_PREFIX) {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if key == LEGACY_ROLE_LABEL && !value.is_empty() {
            roles.insert(value.as_str());
        }
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}
