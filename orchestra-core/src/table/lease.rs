//! The Lease table: Name, Holder, Age.

use serde_json::Value;

use super::{Columns, TableColumnDefinition, age, name_cell};
use crate::kinds::Lease;
use crate::time::Time;

impl Columns for Lease {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::string("Holder", "Who holds the lease now."),
            TableColumnDefinition::age_column(),
        ]
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        vec![
            name_cell(&self.metadata),
            Value::from(self.spec.holder_identity.as_deref().unwrap_or("")),
            Value::from(age(self.metadata.creation_timestamp, now)),
        ]
    }
}
