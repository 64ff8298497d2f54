//! The Api conformance kit against the in-process registry, and against deliberately
//! broken services, each of which the kit must catch by the cases named here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orchestra::core::api::{
    ApiError, Binding, BodyWatch, Call, DeleteOutcome, DeleteParams, Intercept, ListParams,
    ObjectBody, ObjectEvent, ObjectList, ObjectService, Patch, Scale, Target, WatchParams,
};
use orchestra::core::registry::Registry;
use orchestra::core::testing::api::{self, ApiSubject, Report};
use orchestra::core::{ApiResource, Store};
use orchestra::store::MemoryStore;

/// A registry over a fresh MemoryStore serving the kit's kinds, with bookmarks every
/// 100 ms so the bookmark case runs quickly.
fn registry() -> Registry {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let registry = Registry::builder(store)
        .bookmark_interval(Duration::from_millis(100))
        .build();
    api::register_kinds(&registry);
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_passes_the_kit() {
    api::run_all(|| async { ApiSubject::of_registry(&registry()) })
        .await
        .assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_one_shared_registry_stay_apart() {
    // As against a shared remote server: every case of both runs meets the objects
    // every earlier case left behind.
    let shared = registry();
    for _ in 0..2 {
        api::run_all(|| async { ApiSubject::of_registry(&shared) })
            .await
            .assert_passed();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_size_limit_is_enforced_at_that_limit() {
    api::run_selected(
        || async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let registry = Registry::builder(store).max_object_bytes(4096).build();
            api::register_kinds(&registry);
            ApiSubject::of_registry(&registry)
        },
        |case| case.name() == "validation_object_size_limit",
    )
    .await
    .assert_passed();
}

/// What a broken service gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Breakage {
    /// Replaces whatever is stored, ignoring the body's resourceVersion.
    IgnoresResourceVersion,
    /// Lists and watches everything, whatever the label selector.
    DropsLabelSelectors,
    /// Never sends a DELETED event.
    DropsDeletedEvents,
    /// Never sends bookmarks.
    NoBookmarks,
    /// Answers 500 where it should answer 404.
    InternalForNotFound,
    /// Takes an invalid selector and matches nothing with it, as the registry once did.
    MatchesNothingForInvalidSelectors,
    /// Deletes at once, finalizers or not.
    IgnoresFinalizers,
    /// Bumps generation on every write.
    GenerationOnEveryWrite,
}

/// The registry with one breakage.
struct Broken {
    inner: Registry,
    breakage: Breakage,
}

impl Broken {
    fn is(&self, breakage: Breakage) -> bool {
        self.breakage == breakage
    }

    fn fix_error(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::NotFound(body) if self.is(Breakage::InternalForNotFound) => {
                ApiError::Internal(body)
            }
            other => other,
        }
    }

    fn labels_invalid(&self, selector: Option<&orchestra::core::LabelSelector>) -> bool {
        self.is(Breakage::MatchesNothingForInvalidSelectors)
            && selector.is_some_and(|s| s.validate("labelSelector").is_err())
    }

    /// Drops the body's resourceVersion (for [`Breakage::IgnoresResourceVersion`]).
    fn strip_version(&self, obj: ObjectBody) -> Result<ObjectBody, ApiError> {
        if !self.is(Breakage::IgnoresResourceVersion) {
            return Ok(obj);
        }
        let mut value = obj
            .to_value()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("resourceVersion");
        }
        Ok(ObjectBody::from_json(serde_json::to_vec(&value).unwrap()))
    }

    /// Bumps the generation of a written object (for [`Breakage::GenerationOnEveryWrite`]).
    async fn bump(
        &self,
        target: Target<'_>,
        name: &str,
        body: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        if !self.is(Breakage::GenerationOnEveryWrite) {
            return Ok(body);
        }
        let generation = body
            .meta()
            .map_err(|e| ApiError::internal(e.to_string()))?
            .generation;
        let mut value = body
            .to_value()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        value["metadata"]["generation"] = serde_json::json!(generation.unwrap_or(0) + 1);
        let _ = (target, name);
        Ok(ObjectBody::from_json(serde_json::to_vec(&value).unwrap()))
    }
}

fn without_labels(params: &ListParams) -> ListParams {
    let mut params = params.clone();
    params.label_selector = None;
    params
}

#[async_trait]
impl ObjectService for Broken {
    async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        self.inner.resources().await
    }

    async fn create(&self, target: Target<'_>, obj: ObjectBody) -> Result<ObjectBody, ApiError> {
        self.inner
            .create(target, obj)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn get(&self, target: Target<'_>, name: &str) -> Result<ObjectBody, ApiError> {
        self.inner
            .get(target, name)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn list(
        &self,
        target: Target<'_>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError> {
        if self.labels_invalid(params.label_selector.as_ref()) {
            let list = self.inner.list(target, &without_labels(params)).await?;
            return Ok(ObjectList {
                items: Vec::new(),
                ..list
            });
        }
        let params = if self.is(Breakage::DropsLabelSelectors) {
            without_labels(params)
        } else {
            params.clone()
        };
        self.inner
            .list(target, &params)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn replace(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        let obj = self.strip_version(obj)?;
        let written = self
            .inner
            .replace(target, name, obj)
            .await
            .map_err(|e| self.fix_error(e))?;
        self.bump(target, name, written).await
    }

    async fn replace_status(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        let obj = self.strip_version(obj)?;
        let written = self
            .inner
            .replace_status(target, name, obj)
            .await
            .map_err(|e| self.fix_error(e))?;
        self.bump(target, name, written).await
    }

    async fn patch(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.inner
            .patch(target, name, patch)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn patch_status(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.inner
            .patch_status(target, name, patch)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn delete(
        &self,
        target: Target<'_>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError> {
        let outcome = self
            .inner
            .delete(target, name, params)
            .await
            .map_err(|e| self.fix_error(e))?;
        match outcome {
            DeleteOutcome::Pending(_) if self.is(Breakage::IgnoresFinalizers) => {
                // Strip the finalizers and the grace period, and delete for good.
                let patch = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
                self.inner.patch(target, name, &patch).await.ok();
                let now = DeleteParams::default().grace_period(0);
                self.inner.delete(target, name, &now).await
            }
            other => Ok(other),
        }
    }

    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError> {
        self.inner
            .bind(namespace, name, binding)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn get_scale(&self, target: Target<'_>, name: &str) -> Result<Scale, ApiError> {
        self.inner
            .get_scale(target, name)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn replace_scale(
        &self,
        target: Target<'_>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        self.inner
            .replace_scale(target, name, scale)
            .await
            .map_err(|e| self.fix_error(e))
    }

    async fn watch(&self, target: Target<'_>, params: &WatchParams) -> Result<BodyWatch, ApiError> {
        let mut params = params.clone();
        if self.labels_invalid(params.label_selector.as_ref()) {
            // Open, silent, matching nothing.
            return Ok(Box::pin(futures::stream::pending()));
        }
        if self.is(Breakage::DropsLabelSelectors) {
            params.label_selector = None;
        }
        if self.is(Breakage::NoBookmarks) {
            params.bookmarks = false;
        }
        let stream = self
            .inner
            .watch(target, &params)
            .await
            .map_err(|e| self.fix_error(e))?;
        if self.is(Breakage::DropsDeletedEvents) {
            return Ok(Box::pin(stream.filter(|event| {
                std::future::ready(!matches!(event, Ok(ObjectEvent::Deleted(_))))
            })));
        }
        Ok(stream)
    }
}

async fn run_broken(breakage: Breakage) -> Report {
    api::run_all(move || async move {
        let registry = registry();
        ApiSubject::of_registry(&registry).with_service(Broken {
            inner: registry.clone(),
            breakage,
        })
    })
    .await
}

/// Checks that the kit caught a breakage by exactly the cases `must_fail`, or also by
/// some of `may_fail` (cases whose catching depends on a race).
fn assert_caught(report: &Report, must_fail: &[&str], may_fail: &[&str]) {
    let failed = report.failed_cases();
    let missed: Vec<&&str> = must_fail.iter().filter(|c| !failed.contains(c)).collect();
    let unexpected: Vec<&&str> = failed
        .iter()
        .filter(|c| !must_fail.contains(c) && !may_fail.contains(c))
        .collect();
    assert!(
        missed.is_empty() && unexpected.is_empty(),
        "the kit did not catch the breakage in {missed:?}, and also failed {unexpected:?}:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_resource_versions_is_caught() {
    let report = run_broken(Breakage::IgnoresResourceVersion).await;
    assert_caught(
        &report,
        &[
            "update_stale_version_conflicts",
            "update_status_ignores_spec",
            "update_status_over_callers_copy",
            "errors_status_round_trip",
        ],
        // Racing writers lose an increment only when two of them interleave.
        &["update_concurrent_writers_lose_nothing"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_label_selectors_is_caught() {
    let report = run_broken(Breakage::DropsLabelSelectors).await;
    assert_caught(
        &report,
        &[
            "list_label_selectors",
            "list_invalid_label_selector",
            "watch_label_selector_enter_leave",
            "watch_invalid_label_selector",
            "watch_bookmarks",
            "errors_status_round_trip",
        ],
        // Against a shared server these would list other cases' objects too; on a
        // fresh registry the case's label is all there is.
        &["list_all_namespaces", "list_cluster_scoped"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_deleted_events_is_caught() {
    let report = run_broken(Breakage::DropsDeletedEvents).await;
    assert_caught(
        &report,
        &[
            "watch_event_order",
            "watch_from_version",
            "watch_field_selector_enter_leave",
            "watch_label_selector_enter_leave",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_sending_bookmarks_is_caught() {
    let report = run_broken(Breakage::NoBookmarks).await;
    assert_caught(&report, &["watch_bookmarks"], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_for_not_found_are_caught() {
    let report = run_broken(Breakage::InternalForNotFound).await;
    assert_caught(
        &report,
        &[
            "create_scope_rules",
            "list_get_missing_is_not_found",
            "list_cluster_scoped",
            "update_status_over_callers_copy",
            "update_preconditions_and_targets",
            "patch_refusals",
            "delete_immediate",
            "delete_finalizers_hold",
            "delete_grace_period",
            "validation_field_causes",
            "validation_object_size_limit",
            "subresources_bind_refusals",
            "subresources_scale",
            "errors_status_round_trip",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_invalid_selectors_is_caught() {
    let report = run_broken(Breakage::MatchesNothingForInvalidSelectors).await;
    assert_caught(
        &report,
        &[
            "list_invalid_label_selector",
            "watch_invalid_label_selector",
            "errors_status_round_trip",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_finalizers_is_caught() {
    let report = run_broken(Breakage::IgnoresFinalizers).await;
    assert_caught(
        &report,
        &[
            "delete_finalizers_hold",
            "delete_propagation",
            "delete_grace_period",
            "delete_pod_graceful",
            "subresources_bind_refusals",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_generation_on_every_write_is_caught() {
    let report = run_broken(Breakage::GenerationOnEveryWrite).await;
    assert_caught(
        &report,
        &[
            "update_stale_version_conflicts",
            "update_generation_follows_spec",
            "update_status_ignores_spec",
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_the_status_subresource_is_caught() {
    // Intercept is enough for a breakage that only refuses calls.
    let report = api::run_all(|| async {
        let registry = registry();
        let link = Intercept::new(registry.clone()).before(|call: &Call<'_>| match call {
            Call::Replace { status: true, .. } => {
                Err(ApiError::method_not_allowed("no status subresource here"))
            }
            _ => Ok(()),
        });
        ApiSubject::of_registry(&registry).with_service(link)
    })
    .await;
    assert_caught(
        &report,
        &[
            "list_pod_field_selectors",
            "update_generation_follows_spec",
            "update_noop_keeps_version",
            "update_status_kept_on_main_resource",
            "update_status_ignores_spec",
            "update_status_over_callers_copy",
            "update_preconditions_and_targets",
            "update_all_namespaces_api_writes_in_place",
            "subresources_bind_keeps_status",
        ],
        &[],
    );
}
