//! The `meta.k8s.io/v1` types of a table, with Kubernetes' JSON shapes: [`Table`],
//! [`ListMeta`], [`TableColumnDefinition`], [`TableRow`] and [`TableRowCondition`].

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::kinds::ConditionStatus;
use crate::store::Revision;

/// A table of objects, as `meta.k8s.io/v1` `Table`: column definitions and one row of
/// cells per object.
///
/// Serializes with `kind: Table` and `apiVersion: meta.k8s.io/v1` first, every column
/// field present (an empty `format`, a `priority` of 0), and `columnDefinitions` and
/// `rows` always arrays, as kube-apiserver writes them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// The list's resourceVersion (kubectl starts `get --watch` from it) and paging.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The columns, in order. Empty when headers were not asked for (the rows of a
    /// watch after the first event, or `TableOptions::no_headers`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub column_definitions: Vec<TableColumnDefinition>,
    /// One row per object, with one cell per column.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub rows: Vec<TableRow>,
}

impl Table {
    /// The `kind` of a table.
    pub const KIND: &'static str = "Table";
    /// The `apiVersion` of a table.
    pub const API_VERSION: &'static str = "meta.k8s.io/v1";
}

impl Serialize for Table {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = serializer.serialize_struct("Table", 5)?;
        table.serialize_field("kind", Table::KIND)?;
        table.serialize_field("apiVersion", Table::API_VERSION)?;
        table.serialize_field("metadata", &self.metadata)?;
        table.serialize_field("columnDefinitions", &self.column_definitions)?;
        table.serialize_field("rows", &self.rows)?;
        table.end()
    }
}

/// kube-apiserver writes `null` for a table without column definitions; read it as
/// none.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The metadata of a list, as `meta.k8s.io/v1` `ListMeta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The resourceVersion the list was read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The token for the next page, when more objects remain.
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// How many objects remain after this page, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
}

impl ListMeta {
    /// The metadata of a complete list read at `resource_version`.
    pub fn at(resource_version: Revision) -> ListMeta {
        ListMeta {
            resource_version: Some(resource_version.to_string()),
            ..ListMeta::default()
        }
    }

    /// The metadata of one page of a list: its resourceVersion and continue token.
    pub fn of_list<K>(list: &crate::api::ObjectList<K>) -> ListMeta {
        ListMeta {
            resource_version: Some(list.resource_version.to_string()),
            continue_token: list.continue_token.clone(),
            remaining_item_count: None,
        }
    }
}

/// One column of a [`Table`], as `meta.k8s.io/v1` `TableColumnDefinition`.
///
/// kubectl upper-cases `name` for the header (`Up-to-date` prints as `UP-TO-DATE`) and
/// shows a column of `priority` 1 or more only with `-o wide`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumnDefinition {
    /// The column's header, e.g. `Ready`.
    pub name: String,
    /// The OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or
    /// `date`.
    #[serde(rename = "type")]
    pub type_: String,
    /// An OpenAPI format hint; `name` marks the column holding the object's name.
    #[serde(default)]
    pub format: String,
    /// What the column shows, for people.
    #[serde(default)]
    pub description: String,
    /// 0 for the columns always shown, 1 or more for the `-o wide` ones.
    #[serde(default)]
    pub priority: i32,
}

impl TableColumnDefinition {
    /// A column of cells of OpenAPI type `type_` (no format, priority 0).
    pub fn new(
        name: impl Into<String>,
        type_: impl Into<String>,
        description: impl Into<String>,
    ) -> TableColumnDefinition {
        TableColumnDefinition {
            name: name.into(),
            type_: type_.into(),
            format: String::new(),
            description: description.into(),
            priority: 0,
        }
    }

    /// A column of strings.
    pub fn string(name: impl Into<String>, description: impl Into<String>) -> Self {
        TableColumnDefinition::new(name, "string", description)
    }

    /// A column of integers.
    pub fn integer(name: impl Into<String>, description: impl Into<String>) -> Self {
        TableColumnDefinition::new(name, "integer", description)
    }

    /// The `Name` column every kind's table starts with (format `name`).
    pub fn name_column() -> Self {
        TableColumnDefinition::string(
            "Name",
            "The object's name, unique among objects of its kind in its namespace.",
        )
        .format("name")
    }

    /// The `Age` column: how long ago the object was created, cells from
    /// [`age`](super::age).
    pub fn age_column() -> Self {
        TableColumnDefinition::string("Age", "How long ago the object was created.")
    }

    /// Sets the format hint.
    #[must_use]
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = format.into();
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Marks the column as shown only with `-o wide` (priority 1).
    #[must_use]
    pub fn wide(self) -> Self {
        self.priority(1)
    }
}

/// One row of a [`Table`], as `meta.k8s.io/v1` `TableRow`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// One cell per column, in the columns' order: a string, a number, a boolean or
    /// null.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cells: Vec<Value>,
    /// Extra facts about the row, e.g. that a pod has finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TableRowCondition>,
    /// The object the row is of, as asked for by
    /// [`IncludeObject`](super::IncludeObject). kubectl reads the labels for
    /// `--show-labels` and the namespace for `-A` from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

/// A fact about one row, as `meta.k8s.io/v1` `TableRowCondition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRowCondition {
    /// The condition, e.g. [`ROW_COMPLETED`].
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The row condition saying the object has run to completion (a finished pod).
pub const ROW_COMPLETED: &str = "Completed";
