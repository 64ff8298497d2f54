//! Server-side Tables: what `kubectl get` asks for (`Accept:
//! application/json;as=Table;v=v1;g=meta.k8s.io`) and prints as its columns. The rows
//! come from `orchestra_core::table`: a kind's own [`Columns`], or Name and Age.
//!
//! [`Columns`]: orchestra_core::table::Columns

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use orchestra_core::api::{ApiError, ObjectBody, ObjectList};
use orchestra_core::table::{IncludeObject, ListMeta, TableOptions, TablePrinter, printer_for};
use orchestra_core::{ApiResource, GroupResource, Time};
use parking_lot::RwLock;

use crate::query::Query;

/// Whether an `Accept` header asks for a Table before anything else it accepts.
pub(crate) fn wanted(accept: &str) -> bool {
    let first = accept.split(',').next().unwrap_or("");
    let params: Vec<&str> = first.split(';').map(str::trim).collect();
    params.contains(&"as=Table")
        && params.contains(&"g=meta.k8s.io")
        && (params.contains(&"v=v1") || params.contains(&"v=v1beta1"))
}

/// The printers of the kinds that registered their own columns; every other kind gets
/// the built-in kinds' or Name and Age.
#[derive(Default)]
pub(crate) struct Printers {
    custom: RwLock<HashMap<GroupResource, Arc<dyn TablePrinter>>>,
}

impl Printers {
    pub(crate) fn add(&self, resource: &ApiResource, printer: Arc<dyn TablePrinter>) {
        self.custom
            .write()
            .insert(resource.group_resource(), printer);
    }

    pub(crate) fn of(&self, resource: &ApiResource) -> Arc<dyn TablePrinter> {
        match self.custom.read().get(&resource.group_resource()) {
            Some(printer) => printer.clone(),
            None => Arc::from(printer_for(resource)),
        }
    }
}

/// What the rows carry, from `includeObject`.
pub(crate) fn include_object(query: &Query) -> Result<IncludeObject, ApiError> {
    let value = query.value("includeObject").unwrap_or("");
    IncludeObject::parse(value).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid value {value:?} for includeObject: supported values: \"None\", \"Metadata\", \"Object\""
        ))
    })
}

fn encode(table: &orchestra_core::table::Table) -> Result<Bytes, ApiError> {
    serde_json::to_vec(table)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(format!("encoding a table: {e}")))
}

fn printing_failed(error: orchestra_core::table::TableError) -> ApiError {
    ApiError::internal(format!("building a table row: {error}"))
}

/// A list as a Table.
pub(crate) fn of_list(
    printer: &dyn TablePrinter,
    list: &ObjectList<ObjectBody>,
    now: Time,
    include: IncludeObject,
) -> Result<Bytes, ApiError> {
    let options = TableOptions::default().include_object(include);
    let table = printer
        .table(&list.items, ListMeta::of_list(list), now, &options)
        .map_err(printing_failed)?;
    encode(&table)
}

/// One object as a Table of one row.
pub(crate) fn of_object(
    printer: &dyn TablePrinter,
    object: &ObjectBody,
    now: Time,
    include: IncludeObject,
) -> Result<Bytes, ApiError> {
    let options = TableOptions::default().include_object(include);
    let table = printer
        .table(
            std::slice::from_ref(object),
            ListMeta::default(),
            now,
            &options,
        )
        .map_err(printing_failed)?;
    encode(&table)
}

/// The objects of a table watch: a Table of one row each, the columns only in the
/// first, as kube-apiserver sends them.
pub(crate) struct WatchRows {
    printer: Arc<dyn TablePrinter>,
    clock: orchestra_core::Clock,
    include: IncludeObject,
    headers_sent: std::sync::atomic::AtomicBool,
}

impl WatchRows {
    pub(crate) fn new(
        printer: Arc<dyn TablePrinter>,
        clock: orchestra_core::Clock,
        include: IncludeObject,
    ) -> Self {
        WatchRows {
            printer,
            clock,
            include,
            headers_sent: false.into(),
        }
    }

    pub(crate) fn row(&self, object: &ObjectBody) -> Result<Bytes, ApiError> {
        use std::sync::atomic::Ordering;
        let first = !self.headers_sent.swap(true, Ordering::Relaxed);
        let options = TableOptions::default()
            .include_object(self.include)
            .no_headers(!first);
        let table = self
            .printer
            .table(
                std::slice::from_ref(object),
                ListMeta::default(),
                self.clock.now(),
                &options,
            )
            .map_err(printing_failed)?;
        encode(&table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table_and_other_callers_do_not() {
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
        assert!(!wanted("application/json, */*"));
        assert!(!wanted(
            "application/vnd.kubernetes.protobuf,application/json"
        ));
    }
}
