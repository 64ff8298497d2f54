//! Type-erased table printers, for a server that holds objects as [`ObjectBody`]s of
//! kinds it may only learn of at run time.

use std::fmt;
use std::marker::PhantomData;

use serde_json::Value;

use super::{
    Columns, IncludeObject, ListMeta, Table, TableColumnDefinition, TableError, TableOptions,
    TableRow, age, decode_error, partial_metadata, typed_row,
};
use crate::api::ObjectBody;
use crate::kinds::{Deployment, Event, HorizontalPodAutoscaler, Lease, Node, Pod, ReplicaSet};
use crate::resource::ApiResource;
use crate::time::Time;

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
        Ok(super::assemble(
            list,
            || self.column_definitions(),
            rows,
            options,
        ))
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

impl<K: Columns> KindPrinter<K> {
    /// The row of one object of a kind with `columns` columns.
    fn row_of_body(
        object: &ObjectBody,
        columns: usize,
        now: Time,
        include: IncludeObject,
    ) -> Result<TableRow, TableError> {
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
        Self::row_of_body(object, K::columns().len(), now, include)
    }

    /// As the provided method, building the kind's columns once for all rows.
    fn table(
        &self,
        objects: &[ObjectBody],
        list: ListMeta,
        now: Time,
        options: &TableOptions,
    ) -> Result<Table, TableError> {
        let columns = K::columns();
        let rows = objects
            .iter()
            .map(|obj| Self::row_of_body(obj, columns.len(), now, options.include_object))
            .collect::<Result<_, _>>()?;
        Ok(super::assemble(list, || columns, rows, options))
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
