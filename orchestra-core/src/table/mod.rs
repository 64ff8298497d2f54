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
//! - the server, which holds objects as [`ObjectBody`](crate::api::ObjectBody)s of
//!   kinds it may only learn of at run time, uses the object-safe [`TablePrinter`]:
//!   [`KindPrinter`] for a kind with columns, [`DefaultPrinter`] (Name and Age) for any
//!   other, and [`printer_for`] to pick the built-in kinds' printers by descriptor;
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
mod printer;
mod selector;
mod wire;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use age::{age, human_duration};
pub use printer::{DefaultPrinter, KindPrinter, TablePrinter, builtin_printer, printer_for};
pub use wire::{
    ListMeta, ROW_COMPLETED, Table, TableColumnDefinition, TableRow, TableRowCondition,
};

use crate::api::body::encode_with_type;
use crate::meta::{ObjectMeta, PartialObjectMetadata};
use crate::resource::Resource;
use crate::time::Time;

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
    Ok(assemble(list, || columns, rows, options))
}

/// A table of `rows` under `columns`, which [`TableOptions::no_headers`] leaves out
/// (and then never builds: a table watch sends them only in its first event).
pub(crate) fn assemble(
    metadata: ListMeta,
    columns: impl FnOnce() -> Vec<TableColumnDefinition>,
    rows: Vec<TableRow>,
    options: &TableOptions,
) -> Table {
    Table {
        metadata,
        column_definitions: if options.no_headers {
            Vec::new()
        } else {
            columns()
        },
        rows,
    }
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
