//! The finalizer helper: run cleanup before an object is removed, exactly when it is
//! being deleted, and never lose it to a concurrent writer.
//!
//! Wrap a reconcile in [`finalizer`]: a live object first gets the finalizer, then is
//! reconciled with [`FinalizerEvent::Apply`]; an object being deleted is handed over
//! with [`FinalizerEvent::Cleanup`], and once that succeeds the finalizer is removed so
//! the store can let the object go. Finalizers are added and removed on the latest
//! stored state (re-read and retried on conflict), so other finalizers and concurrent
//! changes are preserved. Cleanup may run more than once (after a crash, say) and must
//! be idempotent.

use std::future::Future;
use std::sync::Arc;

use orchestra_core::{Api, ApiError, Resource, ResourceExt};

use super::controller::Action;

/// What the wrapped reconcile is asked to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object is live and carries the finalizer: reconcile it as usual.
    Apply(Arc<K>),
    /// The object is being deleted: release what it holds. The finalizer is removed
    /// when this returns `Ok`.
    Cleanup(Arc<K>),
}

/// Errors from [`finalizer`], generic over the wrapped reconcile's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizerError<E: std::error::Error + 'static> {
    /// The reconcile of a live object failed.
    #[error("apply failed")]
    ApplyFailed(#[source] E),
    /// The cleanup of an object being deleted failed; the finalizer stays.
    #[error("cleanup failed")]
    CleanupFailed(#[source] E),
    /// Adding the finalizer failed.
    #[error("failed to add the finalizer")]
    AddFinalizer(#[source] ApiError),
    /// Removing the finalizer failed.
    #[error("failed to remove the finalizer")]
    RemoveFinalizer(#[source] ApiError),
    /// The object has no name, so it cannot be written back.
    #[error("object has no name")]
    UnnamedObject,
}

/// Runs `reconcile` under finalizer `name` (a qualified name such as
/// `example.dev/cleanup`).
///
/// A live object first gets the finalizer, then is reconciled with
/// [`FinalizerEvent::Apply`]; an object being deleted is handed over with
/// [`FinalizerEvent::Cleanup`], and once that succeeds the finalizer is removed so the
/// store can let the object go. The finalizer is added and removed on the latest stored
/// state (re-read and retried on conflict), so other finalizers and concurrent changes
/// are preserved. Cleanup may run more than once (after a crash, say) and must be
/// idempotent.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use orchestra_core::{Api, kinds::Lease};
/// # use orchestra_runtime::reconcile::{Action, finalizer, FinalizerEvent, FinalizerError};
/// # async fn demo(api: Api<Lease>, obj: Arc<Lease>) -> Result<Action, FinalizerError<std::io::Error>> {
/// finalizer(&api, "example.dev/cleanup", obj, |event| async move {
///     match event {
///         FinalizerEvent::Apply(_lease) => Ok(Action::await_change()),
///         FinalizerEvent::Cleanup(_lease) => Ok::<_, std::io::Error>(Action::await_change()),
///     }
/// })
/// .await
/// # }
/// ```
pub async fn finalizer<K, F, Fut, E>(
    api: &Api<K>,
    name: &str,
    obj: Arc<K>,
    reconcile: F,
) -> Result<Action, FinalizerError<E>>
where
    K: Resource,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
    E: std::error::Error + 'static,
{
    let object_name = obj
        .meta()
        .name
        .clone()
        .ok_or(FinalizerError::UnnamedObject)?;
    let has_finalizer = obj.meta().has_finalizer(name);
    match (obj.meta().is_being_deleted(), has_finalizer) {
        (false, true) => reconcile(FinalizerEvent::Apply(obj))
            .await
            .map_err(FinalizerError::ApplyFailed),
        (false, false) => {
            // The update wakes this object again, and the next pass applies it.
            let added = api
                .update_with(&object_name, |o| {
                    if !o.meta().has_finalizer(name) && !o.meta().is_being_deleted() {
                        o.meta_mut().finalizers.push(name.to_owned());
                    }
                })
                .await;
            match added {
                Ok(_) => Ok(Action::await_change()),
                Err(e) if e.is_not_found() => Ok(Action::await_change()),
                Err(e) => Err(FinalizerError::AddFinalizer(e)),
            }
        }
        (true, true) => {
            let uid = obj.uid().to_owned();
            let action = reconcile(FinalizerEvent::Cleanup(obj))
                .await
                .map_err(FinalizerError::CleanupFailed)?;
            let removed = api
                .update_with(&object_name, |o| {
                    if o.uid() == uid {
                        o.meta_mut().finalizers.retain(|f| f != name);
                    }
                })
                .await;
            match removed {
                Ok(_) => Ok(action),
                Err(e) if e.is_not_found() => Ok(action),
                Err(e) => Err(FinalizerError::RemoveFinalizer(e)),
            }
        }
        // Being deleted and our finalizer is already gone: nothing left for us.
        (true, false) => Ok(Action::await_change()),
    }
}
