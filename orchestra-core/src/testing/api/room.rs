//! What the case modules share: the [`Room`] a case works in, and the steps, errors
//! and watch events they check.

use std::fmt;

use futures::StreamExt;

use super::{ApiSubject, CASE_LABEL, QUIET, WATCH_WAIT, Widget};
use crate::api::{ApiError, FromBody, ObjectWatch};
use crate::conformance::{CaseEnv, CaseResult};
use crate::resource::Resource;
use crate::{Api, Client, ObjectEvent};

/// Where one case works: its namespace, a second one, and its label.
pub(super) struct Room {
    pub(super) subject: ApiSubject,
    /// The case's namespace, and the value of [`CASE_LABEL`] on its objects.
    pub(super) ns: String,
}

impl Room {
    pub(super) fn new(subject: ApiSubject, env: &CaseEnv) -> Room {
        Room {
            subject,
            ns: env.dns_label(),
        }
    }

    pub(super) fn client(&self) -> Client {
        self.subject.client.clone()
    }

    /// A second namespace of the case's own: the label with its first letter changed
    /// (the label ends with the run and the case's place in it, so no other case's
    /// label can be this one).
    pub(super) fn other_ns(&self) -> String {
        let first = if self.ns.starts_with('z') { "y" } else { "z" };
        format!("{first}{}", &self.ns[1..])
    }

    /// A cluster-wide name of the case's own.
    pub(super) fn cluster_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    pub(super) fn api<K: Resource>(&self) -> Api<K> {
        Api::namespaced(self.client(), &self.ns)
    }

    pub(super) fn api_in<K: Resource>(&self, ns: &str) -> Api<K> {
        Api::namespaced(self.client(), ns)
    }

    pub(super) fn widgets(&self) -> Api<Widget> {
        self.api()
    }

    /// A widget carrying the case's label.
    pub(super) fn widget(&self, name: &str, size: u32) -> Widget {
        Widget::new(name, size).with_label(CASE_LABEL, &self.ns)
    }

    /// The selector of the case's objects.
    pub(super) fn case_selector(&self) -> crate::LabelSelector {
        crate::LabelSelector::new().match_label(CASE_LABEL, &self.ns)
    }

    pub(super) fn now(&self) -> crate::Time {
        self.subject.client.clock().now()
    }
}

/// An error as messages show it.
pub(super) fn describe(e: &ApiError) -> String {
    format!("{} {}: {}", e.code(), e.reason(), e.message())
}

/// Turns an unexpected API error into a failure naming the step.
pub(super) trait Step<T> {
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T> Step<T> for Result<T, ApiError> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: unexpected error {}", describe(&e)))
    }
}

/// The error of a call that must fail.
pub(super) fn refused<T>(result: Result<T, ApiError>, what: &str) -> Result<ApiError, String> {
    match result {
        Ok(_) => Err(format!("{what}: expected an error, but it succeeded")),
        Err(e) => Ok(e),
    }
}

/// Checks an error's code and reason.
pub(super) fn expect_status(e: &ApiError, code: u16, reason: &str, what: &str) -> CaseResult {
    if e.code() != code || e.reason() != reason {
        return Err(format!(
            "{what}: expected {code} {reason}, got {}",
            describe(e)
        ));
    }
    Ok(())
}

/// The error of a call that must fail with `code` and `reason`.
pub(super) fn refused_with<T>(
    result: Result<T, ApiError>,
    code: u16,
    reason: &str,
    what: &str,
) -> Result<ApiError, String> {
    let e = refused(result, what)?;
    expect_status(&e, code, reason, what)?;
    Ok(e)
}

/// A resourceVersion as a number, for comparisons.
pub(super) fn rv_of<K: Resource>(obj: &K) -> Result<u64, String> {
    let rv = obj.meta().resource_version.as_deref().unwrap_or("");
    rv.parse()
        .map_err(|_| format!("resourceVersion {rv:?} of {} is not a number", K::KIND))
}

/// The next event of `watch`, bookmarks included.
pub(super) async fn next_event<K: Resource, O: FromBody<K>>(
    watch: &mut ObjectWatch<K, O>,
    what: &str,
) -> Result<ObjectEvent<O>, String> {
    match tokio::time::timeout(WATCH_WAIT, watch.next()).await {
        Err(_) => Err(format!("{what}: no watch event within {WATCH_WAIT:?}")),
        Ok(None) => Err(format!("{what}: the watch ended")),
        Ok(Some(Err(e))) => Err(format!("{what}: the watch failed with {}", describe(&e))),
        Ok(Some(Ok(event))) => Ok(event),
    }
}

/// The next event of `watch` about an object (bookmarks are skipped).
pub(super) async fn next_change<K: Resource>(
    watch: &mut ObjectWatch<K>,
    what: &str,
) -> Result<ObjectEvent<K>, String> {
    loop {
        match next_event(watch, what).await? {
            ObjectEvent::Bookmark { .. } => continue,
            event => return Ok(event),
        }
    }
}

/// Fails if `watch` yields anything but a bookmark within [`QUIET`].
pub(super) async fn quiet<K: Resource + fmt::Debug>(
    watch: &mut ObjectWatch<K>,
    what: &str,
) -> CaseResult {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Err(_) => return Ok(()),
            Ok(Some(Ok(ObjectEvent::Bookmark { .. }))) => continue,
            Ok(None) => return Err(format!("{what}: the watch ended")),
            Ok(Some(Err(e))) => {
                return Err(format!("{what}: the watch failed with {}", describe(&e)));
            }
            Ok(Some(Ok(event))) => {
                return Err(format!(
                    "{what}: expected no event, got {}",
                    summary(&event)
                ));
            }
        }
    }
}

/// `Added a` and the like, for messages and comparisons.
pub(super) fn summary<K: Resource>(event: &ObjectEvent<K>) -> String {
    let (kind, obj) = match event {
        ObjectEvent::Added(o) => ("Added", o),
        ObjectEvent::Modified(o) => ("Modified", o),
        ObjectEvent::Deleted(o) => ("Deleted", o),
        ObjectEvent::Bookmark { resource_version } => {
            return format!("Bookmark {resource_version}");
        }
    };
    format!("{kind} {}", obj.meta().name.as_deref().unwrap_or(""))
}
