//! Server-side tables: the `meta.k8s.io/v1` [`Table`] that `kubectl get` asks for and
//! prints, and how each kind computes its rows.
//!
//! `kubectl get` has no printers of its own for API kinds: it sends
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns and
//! cells the server computed, every cell included (AGE is a string such as `2m3s`).
//! This module holds that computation, in core rather than in the API server, so that a
//! user's own kind can give its columns without depending on the server:
//!
//! - a kind gives its columns by implementing [`Columns`]; [`table_of`] builds a table
//!   of typed objects;
//! - the server, which holds objects as [`ObjectBody`]s of kinds it may only learn of at
//!   run time, uses the object-safe [`TablePrinter`]: [`KindPrinter`] for a kind with
//!   columns, [`DefaultPrinter`] (Name and Age) for any other, and [`printer_for`] to
//!   pick the built-in kinds' printers by descriptor;
//! - the built-in kinds compute the cells kube-apiserver's printers compute, `-o wide`
//!   columns (priority 1) included, since kubectl sends the same request for both.
//!
//! A user's kind with its own columns:
//!
//! ```
//! use orchestra_core::table::{self, Columns, ListMeta, TableColumnDefinition, TableOptions};
//! use orchestra_core::{ObjectMeta, Resource, Scope, Time};
//! use serde::{Deserialize, Serialize};
//! use serde_json::{Value, json};
//!
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! pub struct Echo {
//!     pub metadata: ObjectMeta,
//!     pub spec: EchoSpec,
//! }
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! pub struct EchoSpec { pub message: String, pub times: i64 }
//!
//! impl Resource for Echo {
//!     const KIND: &'static str = "Echo";
//!     const API_VERSION: &'static str = "example.dev/v1";
//!     const PLURAL: &'static str = "echoes";
//!     const SCOPE: Scope = Scope::Namespaced;
//!     fn meta(&self) -> &ObjectMeta { &self.metadata }
//!     fn meta_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
//! }
//!
//! impl Columns for Echo {
//!     fn columns() -> Vec<TableColumnDefinition> {
//!         vec![
//!             TableColumnDefinition::name_column(),
//!             TableColumnDefinition::integer("Times", "How often the message is echoed."),
//!             TableColumnDefinition::age_column(),
//!             TableColumnDefinition::string("Message", "What is echoed.").wide(),
//!         ]
//!     }
//!
//!     fn cells(&self, now: Time) -> Vec<Value> {
//!         vec![
//!             json!(self.metadata.name),
//!             json!(self.spec.times),
//!             json!(table::age(self.metadata.creation_timestamp, now)),
//!             json!(self.spec.message),
//!         ]
//!     }
//! }
//!
//! let now = Time::from_unix_seconds(1_800_000_000);
//! let mut echo = Echo::default();
//! echo.metadata = ObjectMeta::namespaced("default", "hello");
//! echo.metadata.creation_timestamp = Some(Time::from_unix_seconds(1_800_000_000 - 123));
//! echo.spec = EchoSpec { message: "hi".into(), times: 3 };
//!
//! let table = table::table_of(&[echo], ListMeta::at(42), now, &TableOptions::default()).unwrap();
//! assert_eq!(table.rows[0].cells, [json!("hello"), json!(3), json!("2m3s"), json!("hi")]);
//! let wire = serde_json::to_value(&table).unwrap();
//! assert_eq!(wire["kind"], "Table");
//! assert_eq!(wire["metadata"], json!({"resourceVersion": "42"}));
//! assert_eq!(wire["rows"][0]["object"]["kind"], "PartialObjectMetadata");
//! ```

mod age;
mod event;
mod hpa;
mod lease;
mod node;
mod pod;
mod selector;
mod workloads;

#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use age::{age, human_duration};

use crate::api::ObjectBody;
use crate::api::body::encode_with_type;
use crate::kinds::{
    ConditionStatus, Deployment, Event, HorizontalPodAutoscaler, Lease, Node, Pod, ReplicaSet,
};
use crate::meta::{ObjectMeta, PartialObjectMetadata};
use crate::resource::{ApiResource, Resource};
use crate::store::Revision;
use crate::time::Time;

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

    /// The `Age` column: how long ago the object was created, cells from [`age`].
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
    /// The object the row is of, as asked for by [`IncludeObject`]. kubectl reads the
    /// labels for `--show-labels` and the namespace for `-A` from it.
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

/// What each row carries as its `object`: the `includeObject` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IncludeObject {
    /// No object.
    None,
    /// The object's metadata as a `PartialObjectMetadata` (the default, as in
    /// Kubernetes).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter (`None`, `Metadata` or `Object`; empty
    /// means the default); `None` for any other value, which a server rejects.
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "None" => Some(IncludeObject::None),
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// How a table is built: what each row carries and whether the columns are included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    include_object: IncludeObject,
    no_headers: bool,
}

impl TableOptions {
    /// What each row carries as its object (default: the metadata).
    #[must_use]
    pub fn include_object(mut self, include: IncludeObject) -> Self {
        self.include_object = include;
        self
    }

    /// Leaves the column definitions out, as for the events of a table watch after
    /// the first.
    #[must_use]
    pub fn no_headers(mut self, no_headers: bool) -> Self {
        self.no_headers = no_headers;
        self
    }
}

/// A kind's table columns and how one object fills them.
///
/// Implement it for a kind to give `kubectl get` more than Name and Age. Put the
/// columns always shown first, then the `-o wide` ones at priority 1: kubectl sends the
/// same request for both and hides the wide columns itself, so every row carries every
/// cell.
pub trait Columns: Resource {
    /// The columns, in order. The same on every call.
    fn columns() -> Vec<TableColumnDefinition>;

    /// The object's cells at `now` (ages are relative to it): exactly one per column of
    /// [`columns`](Columns::columns), in the same order. A table of an object whose
    /// cells do not match its columns fails with [`TableError::CellCount`].
    fn cells(&self, now: Time) -> Vec<Value>;

    /// Conditions of the object's row (none by default).
    fn row_conditions(&self) -> Vec<TableRowCondition> {
        Vec::new()
    }
}

/// Why a table could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// An object could not be read as its kind, or encoded as its row's object.
    #[error("cannot read a {kind} for its table row: {source}")]
    Decode {
        /// The kind of the object.
        kind: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A kind's [`Columns::cells`] gave a different number of cells than it has
    /// columns.
    #[error("{kind} gave {cells} cells for its {columns} columns")]
    CellCount {
        /// The kind.
        kind: String,
        /// How many columns it has.
        columns: usize,
        /// How many cells it gave.
        cells: usize,
    },
}

/// The table of typed objects, with the columns of their kind.
pub fn table_of<K: Columns>(
    objects: &[K],
    list: ListMeta,
    now: Time,
    options: &TableOptions,
) -> Result<Table, TableError> {
    let columns = K::columns();
    let rows = objects
        .iter()
        .map(|obj| typed_row(obj, columns.len(), now, options.include_object))
        .collect::<Result<_, _>>()?;
    Ok(Table {
        metadata: list,
        column_definitions: if options.no_headers {
            Vec::new()
        } else {
            columns
        },
        rows,
    })
}

/// The row of one typed object, with the object encoded as `include` asks.
pub fn row_of<K: Columns>(
    obj: &K,
    now: Time,
    include: IncludeObject,
) -> Result<TableRow, TableError> {
    typed_row(obj, K::columns().len(), now, include)
}

fn typed_row<K: Columns>(
    obj: &K,
    columns: usize,
    now: Time,
    include: IncludeObject,
) -> Result<TableRow, TableError> {
    let cells = obj.cells(now);
    if cells.len() != columns {
        return Err(TableError::CellCount {
            kind: K::KIND.to_owned(),
            columns,
            cells: cells.len(),
        });
    }
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(partial_metadata(obj.meta(), K::KIND)?),
        IncludeObject::Object => Some(
            encode_with_type(obj)
                .and_then(|json| serde_json::from_slice(&json))
                .map_err(|source| decode_error(K::KIND, source))?,
        ),
    };
    Ok(TableRow {
        cells,
        conditions: obj.row_conditions(),
        object,
    })
}

/// The object as a `PartialObjectMetadata`: what a row carries by default.
fn partial_metadata(meta: &ObjectMeta, kind: &str) -> Result<Value, TableError> {
    let partial = PartialObjectMetadata {
        metadata: meta.clone(),
    };
    encode_with_type(&partial)
        .and_then(|json| serde_json::from_slice(&json))
        .map_err(|source| decode_error(kind, source))
}

fn decode_error(kind: &str, source: serde_json::Error) -> TableError {
    TableError::Decode {
        kind: kind.to_owned(),
        source,
    }
}

/// Builds table rows for the objects of one kind, held as [`ObjectBody`]s: what an API
/// server uses for kinds it learns of at run time. Object-safe.
pub trait TablePrinter: Send + Sync {
    /// The kind's columns.
    fn column_definitions(&self) -> Vec<TableColumnDefinition>;

    /// The row of one object at `now`, with the object as `include` asks. Fails when
    /// the body cannot be read as the printer's kind.
    fn row(
        &self,
        object: &ObjectBody,
        now: Time,
        include: IncludeObject,
    ) -> Result<TableRow, TableError>;

    /// The table of `objects` (of this printer's kind), with `list`'s metadata.
    fn table(
        &self,
        objects: &[ObjectBody],
        list: ListMeta,
        now: Time,
        options: &TableOptions,
    ) -> Result<Table, TableError> {
        let rows = objects
            .iter()
            .map(|obj| self.row(obj, now, options.include_object))
            .collect::<Result<_, _>>()?;
        Ok(Table {
            metadata: list,
            column_definitions: if options.no_headers {
                Vec::new()
            } else {
                self.column_definitions()
            },
            rows,
        })
    }
}

/// The [`TablePrinter`] of a kind with [`Columns`]: reads each body as a `K` (without
/// a copy when the body holds one).
pub struct KindPrinter<K>(PhantomData<fn() -> K>);

impl<K: Columns> KindPrinter<K> {
    /// The printer of `K`.
    pub fn new() -> Self {
        KindPrinter(PhantomData)
    }
}

impl<K: Columns> Default for KindPrinter<K> {
    fn default() -> Self {
        KindPrinter::new()
    }
}

impl<K> fmt::Debug for KindPrinter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KindPrinter")
            .field(&std::any::type_name::<K>())
            .finish()
    }
}

impl<K: Columns> TablePrinter for KindPrinter<K> {
    fn column_definitions(&self) -> Vec<TableColumnDefinition> {
        K::columns()
    }

    fn row(
        &self,
        object: &ObjectBody,
        now: Time,
        include: IncludeObject,
    ) -> Result<TableRow, TableError> {
        let columns = K::columns().len();
        if let Some(obj) = object.as_object::<K>() {
            return typed_row(obj, columns, now, include);
        }
        let json = object
            .to_json()
            .map_err(|source| decode_error(K::KIND, source))?;
        let obj: K =
            serde_json::from_slice(&json).map_err(|source| decode_error(K::KIND, source))?;
        let mut row = typed_row(&obj, columns, now, IncludeObject::None)?;
        // The body's own JSON is the object as stored: keep fields `K` does not model.
        row.object = match include {
            IncludeObject::None => None,
            IncludeObject::Metadata => Some(partial_metadata(obj.meta(), K::KIND)?),
            IncludeObject::Object => Some(
                serde_json::from_slice(&json).map_err(|source| decode_error(K::KIND, source))?,
            ),
        };
        Ok(row)
    }
}

/// The [`TablePrinter`] for a kind without columns of its own: Name and Age, from the
/// metadata alone, as `kubectl get` shows a custom resource without printer columns.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPrinter;

impl TablePrinter for DefaultPrinter {
    fn column_definitions(&self) -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::age_column(),
        ]
    }

    fn row(
        &self,
        object: &ObjectBody,
        now: Time,
        include: IncludeObject,
    ) -> Result<TableRow, TableError> {
        let meta = object
            .meta()
            .map_err(|source| decode_error("object", source))?;
        let cells = vec![
            Value::from(meta.name.clone().unwrap_or_default()),
            Value::from(age(meta.creation_timestamp, now)),
        ];
        let object = match include {
            IncludeObject::None => None,
            IncludeObject::Metadata => Some(partial_metadata(&meta, "object")?),
            IncludeObject::Object => Some(
                object
                    .to_value()
                    .map_err(|source| decode_error("object", source))?,
            ),
        };
        Ok(TableRow {
            cells,
            conditions: Vec::new(),
            object,
        })
    }
}

/// The printer of a built-in kind with columns, if `resource` names one (Pods, Nodes,
/// Deployments, ReplicaSets, HorizontalPodAutoscalers, Events, Leases).
pub fn builtin_printer(resource: &ApiResource) -> Option<Box<dyn TablePrinter>> {
    fn boxed<K: Columns>() -> Option<Box<dyn TablePrinter>> {
        Some(Box::new(KindPrinter::<K>::new()))
    }
    if resource.is_of::<Pod>() {
        boxed::<Pod>()
    } else if resource.is_of::<Node>() {
        boxed::<Node>()
    } else if resource.is_of::<Deployment>() {
        boxed::<Deployment>()
    } else if resource.is_of::<ReplicaSet>() {
        boxed::<ReplicaSet>()
    } else if resource.is_of::<HorizontalPodAutoscaler>() {
        boxed::<HorizontalPodAutoscaler>()
    } else if resource.is_of::<Event>() {
        boxed::<Event>()
    } else if resource.is_of::<Lease>() {
        boxed::<Lease>()
    } else {
        None
    }
}

/// The printer for `resource`: the built-in kind's ([`builtin_printer`]), or
/// [`DefaultPrinter`].
pub fn printer_for(resource: &ApiResource) -> Box<dyn TablePrinter> {
    builtin_printer(resource).unwrap_or_else(|| Box::new(DefaultPrinter))
}

/// The Containers and Images cells of a workload: names and images, comma-separated,
/// in the template's order.
fn container_cells(containers: &[crate::kinds::Container]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

/// The name cell of an object.
fn name_cell(meta: &ObjectMeta) -> Value {
    Value::from(meta.name.as_deref().unwrap_or(""))
}
