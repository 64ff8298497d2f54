//! The tables of the pod-template workloads: Deployments (Name, Ready, Up-to-date,
//! Available, Age) and ReplicaSets (Name, Desired, Current, Ready, Age), both with
//! Containers, Images and Selector for `-o wide`.

use serde_json::Value;

use super::{Columns, TableColumnDefinition, age, container_cells, name_cell, selector};
use crate::kinds::{Deployment, ReplicaSet};
use crate::time::Time;

/// The `-o wide` columns every pod-template workload ends with.
fn template_columns() -> [TableColumnDefinition; 3] {
    [
        TableColumnDefinition::string("Containers", "The names of the template's containers.")
            .wide(),
        TableColumnDefinition::string("Images", "The images of the template's containers.").wide(),
        TableColumnDefinition::string("Selector", "The labels of the pods it manages.").wide(),
    ]
}

impl Columns for Deployment {
    fn columns() -> Vec<TableColumnDefinition> {
        let mut columns = vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::string("Ready", "Ready pods out of the desired number."),
            TableColumnDefinition::integer("Up-to-date", "Pods that run the current template."),
            TableColumnDefinition::integer("Available", "Pods ready for at least minReadySeconds."),
            TableColumnDefinition::age_column(),
        ];
        columns.extend(template_columns());
        columns
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        let status = self.status.clone().unwrap_or_default();
        let (containers, images) = container_cells(&self.spec.template.spec.containers);
        vec![
            name_cell(&self.metadata),
            Value::from(format!("{}/{}", status.ready_replicas, self.replicas())),
            Value::from(status.updated_replicas),
            Value::from(status.available_replicas),
            Value::from(age(self.metadata.creation_timestamp, now)),
            Value::from(containers),
            Value::from(images),
            Value::from(selector::deployment_cell(&self.spec.selector)),
        ]
    }
}

impl Columns for ReplicaSet {
    fn columns() -> Vec<TableColumnDefinition> {
        let mut columns = vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::integer("Desired", "How many pods it should run."),
            TableColumnDefinition::integer("Current", "How many pods it runs."),
            TableColumnDefinition::integer("Ready", "How many of its pods are ready."),
            TableColumnDefinition::age_column(),
        ];
        columns.extend(template_columns());
        columns
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        let status = self.status.as_ref();
        let (containers, images) = container_cells(&self.spec.template.spec.containers);
        vec![
            name_cell(&self.metadata),
            Value::from(self.replicas()),
            Value::from(status.map_or(0, |s| s.replicas)),
            Value::from(status.and_then(|s| s.ready_replicas).unwrap_or(0)),
            Value::from(age(self.metadata.creation_timestamp, now)),
            Value::from(containers),
            Value::from(images),
            Value::from(selector::replica_set_cell(&self.spec.selector)),
        ]
    }
}
