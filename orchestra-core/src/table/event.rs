//! The Event table: Last Seen, Type, Reason, Object, Message, and for `-o wide`
//! Subobject, Source, First Seen, Count and Name — in kube-apiserver's order, where
//! the wide columns sit between the others.

use serde_json::Value;

use super::{Columns, TableColumnDefinition, age, name_cell};
use crate::kinds::Event;
use crate::time::Time;

impl Columns for Event {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::string("Last Seen", "How long ago the event last happened."),
            TableColumnDefinition::string("Type", "Normal or Warning."),
            TableColumnDefinition::string("Reason", "Why it happened, in one word."),
            TableColumnDefinition::string("Object", "The object it happened to, as kind/name."),
            TableColumnDefinition::string("Subobject", "The part of the object it concerns.")
                .wide(),
            TableColumnDefinition::string("Source", "The component that reported it.").wide(),
            TableColumnDefinition::string("Message", "What happened, for people."),
            TableColumnDefinition::string("First Seen", "How long ago it first happened.").wide(),
            TableColumnDefinition::string("Count", "How many times it happened.").wide(),
            TableColumnDefinition::name_column().wide(),
        ]
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        let first_seen = age(self.first_timestamp, now);
        let last_seen = match self.last_timestamp {
            Some(last) => age(Some(last), now),
            None => first_seen.clone(),
        };
        // An event recorded once may carry no count.
        let count = self.count.filter(|c| *c != 0).unwrap_or(1);
        let involved = &self.involved_object;
        let kind = involved.kind.as_deref().unwrap_or("").to_lowercase();
        let object = match involved.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => format!("{kind}/{name}"),
            None => kind,
        };
        let source = self.source.as_ref();
        let component = source
            .and_then(|s| s.component.as_deref())
            .filter(|c| !c.is_empty())
            .or(self.reporting_component.as_deref())
            .unwrap_or("");
        let host = source
            .and_then(|s| s.host.as_deref())
            .filter(|h| !h.is_empty());
        let source = match host {
            Some(host) => format!("{component}, {host}"),
            None => component.to_owned(),
        };
        vec![
            Value::from(last_seen),
            Value::from(self.type_.as_deref().unwrap_or("")),
            Value::from(self.reason.as_deref().unwrap_or("")),
            Value::from(object),
            // This model has no field paths.
            Value::from(""),
            Value::from(source),
            Value::from(self.message.as_deref().unwrap_or("").trim()),
            Value::from(first_seen),
            Value::from(count),
            name_cell(&self.metadata),
        ]
    }
}
