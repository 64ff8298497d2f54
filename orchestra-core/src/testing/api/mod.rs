//! The Api conformance kit: one call that holds an [`ObjectService`] — the in-process
//! [`Registry`], an HTTP client of a remote server, a middleware around either — to
//! the contracts of the object API: every object rule, every error, watch semantics.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use orchestra_core::Store;
//! use orchestra_core::registry::Registry;
//! use orchestra_core::testing::api::{self, ApiSubject};
//!
//! # async fn doc(new_store: fn() -> Arc<dyn Store>) {
//! // In a `#[tokio::test(flavor = "multi_thread")]`, in real time:
//! api::run_all(|| async {
//!     let registry = Registry::new(new_store());
//!     api::register_kinds(&registry);
//!     ApiSubject::of_registry(&registry)
//! })
//! .await
//! .assert_passed();
//!
//! // A service that documents a case as unsupported skips it by name:
//! api::run_selected(
//!     || async {
//!         let registry = Registry::new(new_store());
//!         api::register_kinds(&registry);
//!         ApiSubject::of_registry(&registry)
//!     },
//!     |case| case.name() != "watch_compacted_version_is_gone",
//! )
//! .await
//! .assert_passed();
//! # }
//! ```
//!
//! [`run_all`] runs every case in [`cases()`], one after another, each against a fresh
//! [`ApiSubject`] from the builder (any [`SubjectBuilder`], such as a closure returning
//! a future), and returns a [`Report`] of every case; [`Report::assert_passed`] fails
//! the test naming every failed case and why. A test of a deliberately broken service
//! reads the report instead (`tests/api_conformance.rs` in the workspace does). The
//! cases run on the harness of [`conformance`].
//!
//! What the service under test must serve: the built-in kinds (Pods, Deployments,
//! ReplicaSets) and the kit's own [`Widget`] and [`Rack`] ([`register_kinds`] registers
//! them with a registry).
//!
//! What the kit assumes, so that a shared server can run it too:
//!
//! - Each case works in namespaces of its own, named after the case and the run
//!   ([`CaseEnv::dns_label`](crate::conformance::CaseEnv::dns_label)), and names its cluster-scoped objects the same way;
//!   every object it makes carries the label [`CASE_LABEL`] with that name, and it
//!   lists across namespaces only through that label. Leftovers of earlier runs do not
//!   matter.
//! - No case assumes absolute resourceVersions: it only compares them with each other.
//! - The subject's clock and the server's agree within [`CLOCK_SKEW`]
//!   (creationTimestamp and deletionTimestamp are checked against it).
//! - What only a subject can tell is declared on the [`ApiSubject`]: the size limit
//!   ([`ApiSubject::max_object_bytes`]), the bookmark interval
//!   ([`ApiSubject::bookmark_interval`]) and a way to compact the history
//!   ([`ApiSubject::compactor`]). A case that needs an undeclared one checks what it
//!   can without it and says so in its doc: `validation_object_size_limit` then only
//!   checks that an object just over etcd's 1.5 MiB is refused, `watch_bookmarks`
//!   waits for a bookmark at most [`DEFAULT_BOOKMARK_WAIT`], and
//!   `watch_compacted_version_is_gone` passes without checking anything (skip it by
//!   name to make that visible).
//!
//! Every wait is bounded: a watch that stays silent fails its case after
//! [`WATCH_WAIT`], and a whole case after [`CASE_TIMEOUT`]. Run the kit in real time,
//! not paused tokio time.
//!
//! [`ObjectService`]: crate::ObjectService
//! [`Registry`]: crate::Registry

mod create;
mod delete;
mod errors;
mod kinds;
mod list;
mod patch;
mod room;
mod subject;
mod subresources;
mod update;
mod validation;
mod watch;

use std::time::Duration;

pub use kinds::{GROUP, Rack, RackSpec, Widget, WidgetSpec, WidgetStatus, register_kinds};
pub use subject::{ApiSubject, Compactor};

use room::{
    Room, Step, describe, expect_status, next_change, quiet, refused, refused_with, rv_of, summary,
};

use crate::conformance;
pub use crate::conformance::{Case, CaseFailure, Report, SubjectBuilder};
use crate::{conformance_ensure as ensure, conformance_ensure_eq as ensure_eq};

/// How long a case waits for one watch event before it fails.
pub const WATCH_WAIT: Duration = Duration::from_secs(10);

/// How long a case watches to be sure an event does not come.
pub const QUIET: Duration = Duration::from_millis(300);

/// How long one case may run in total before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How far apart the subject's clock and the server's may be.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// How long `watch_bookmarks` waits for a bookmark when the subject declares no
/// bookmark interval (Kubernetes sends one about once a minute).
pub const DEFAULT_BOOKMARK_WAIT: Duration = Duration::from_secs(70);

/// The label every object a case makes carries, with the case's name as its value.
pub const CASE_LABEL: &str = "conformance.orchestra.dev/case";

/// An Api conformance case.
pub type ApiCase = Case<ApiSubject>;

/// A case of `module::function`, named `module_function`, working in its room.
macro_rules! case {
    ($module:ident :: $function:ident, $checks:literal) => {
        Case::new(
            concat!(stringify!($module), "_", stringify!($function)),
            $checks,
            |subject, env| Box::pin($module::$function(Room::new(subject, &env))),
        )
        .time_limit(CASE_TIMEOUT)
    };
}

/// Every case, in the order [`run_all`] runs them. Each name starts with its area
/// (`create_`, `list_` (gets too), `update_`, `patch_`, `delete_`, `validation_`,
/// `subresources_` (bind and scale), `watch_`, `errors_`).
pub fn cases() -> Vec<ApiCase> {
    vec![
        case!(
            create::sets_server_fields,
            "create sets uid, creationTimestamp, resourceVersion, generation 1 and the namespace, drops a forged uid and the status, and get returns the same object"
        ),
        case!(
            create::generate_name,
            "generateName makes a fresh valid name per create; an invalid prefix is 422"
        ),
        case!(
            create::applies_defaults,
            "create applies the kind's defaults (a Deployment's replicas and rolling-update strategy)"
        ),
        case!(
            create::duplicate_is_already_exists,
            "a second create of a name is 409 AlreadyExists with details naming it, and changes nothing"
        ),
        case!(
            create::scope_rules,
            "a namespaced kind needs a namespace and refuses another one than the request's; a cluster-scoped kind drops one"
        ),
        case!(
            list::get_missing_is_not_found,
            "get of a missing object is 404 NotFound with details naming the kind, group and name"
        ),
        case!(
            list::label_selectors,
            "list filters by label selectors of the full syntax: =, ==, !=, in, notin, exists, !exists, combined"
        ),
        case!(
            list::field_selectors,
            "list filters by field selectors: metadata.name, metadata.namespace, a spec field, = and !="
        ),
        case!(
            list::pod_field_selectors,
            "pods select by spec.nodeName and status.phase; a field the kind does not select by is 400"
        ),
        case!(
            list::paging,
            "limit and continue page through every object once, every page at the first page's resourceVersion; a bad token is 400"
        ),
        case!(
            list::resource_version_semantics,
            "a list's resourceVersion covers every earlier write; an exact past version reads that state; a continue token with a version is 400"
        ),
        case!(
            list::all_namespaces,
            "a list over all namespaces spans them; a namespaced list sees its own namespace only"
        ),
        case!(
            list::cluster_scoped,
            "a cluster-scoped kind creates, gets, lists and deletes without a namespace"
        ),
        case!(
            list::invalid_label_selector,
            "list with a selector built in code with an invalid key, value or operator is 400 BadRequest, not an empty list"
        ),
        case!(
            update::stale_version_conflicts,
            "replace with a stale resourceVersion is 409 Conflict and changes nothing"
        ),
        case!(
            update::generation_follows_spec,
            "generation moves on spec changes only, not on metadata or status writes"
        ),
        case!(
            update::noop_keeps_version,
            "a replace that changes nothing keeps the resourceVersion and makes no watch event"
        ),
        case!(
            update::status_kept_on_main_resource,
            "replace keeps the stored status whatever the body says; an empty resourceVersion replaces unconditionally"
        ),
        case!(
            update::status_ignores_spec,
            "replace_status changes only the status, and is guarded by the resourceVersion"
        ),
        case!(
            update::status_over_callers_copy,
            "Api::replace_status writes over the caller's copy, 409 when it is stale, 404 when the object is gone"
        ),
        case!(
            update::preconditions_and_targets,
            "a uid in the body is a precondition (409 for a re-created object, resourceVersion or not); a missing object is 404, a body naming another object 400"
        ),
        case!(
            update::concurrent_writers_lose_nothing,
            "read-modify-write (update_with) by racing writers loses no increment"
        ),
        case!(
            update::all_namespaces_api_writes_in_place,
            "an all-namespaces Api writes each object in its own namespace; a namespaced one refuses another's object"
        ),
        case!(
            patch::merge,
            "a merge patch merges into the latest state (null removes) and moves generation; a status merge patch leaves the spec"
        ),
        case!(
            patch::json,
            "a JSON patch applies its operations in order; a failing test operation is 400 and writes nothing"
        ),
        case!(
            patch::refusals,
            "patches that do not apply are 400, a pinned stale resourceVersion is 409, a missing object 404, and none writes"
        ),
        case!(
            delete::immediate,
            "delete without finalizers or grace removes at once; deleting again is 404"
        ),
        case!(
            delete::finalizers_hold,
            "a finalizer keeps a deleted object with deletionTimestamp; no finalizer can be added, the timestamp stays; removing the last deletes"
        ),
        case!(
            delete::preconditions,
            "delete preconditions on uid and resourceVersion that do not hold are 409 Conflict and delete nothing"
        ),
        case!(
            delete::propagation,
            "foreground and orphan propagation are recorded as finalizers on the pending object; background deletes"
        ),
        case!(
            delete::grace_period,
            "a grace period marks a bound pod with deletionTimestamp now + grace and a zero grace delete removes it; kinds with nothing to stop ignore it"
        ),
        case!(
            delete::pod_graceful,
            "a bound pod is deleted gracefully with its terminationGracePeriodSeconds, a later delete shortens it; an unbound pod goes at once"
        ),
        case!(
            validation::bad_names,
            "bad names and namespaces are 422 Invalid naming metadata.name or metadata.namespace, and create nothing"
        ),
        case!(
            validation::field_causes,
            "an invalid object is 422 Invalid with a cause per bad field (labels, finalizers, owner references, spec)"
        ),
        case!(
            validation::object_size_limit,
            "an object over the size limit is 413 on create and on update, and the stored object is unchanged"
        ),
        case!(
            subresources::bind_sets_node,
            "bind sets spec.nodeName and PodScheduled=True in one write"
        ),
        case!(
            subresources::bind_twice_conflicts,
            "binding a bound pod is 409 Conflict and leaves it on its node"
        ),
        case!(
            subresources::bind_keeps_status,
            "a status write between read and bind does not fail the bind and is kept"
        ),
        case!(
            subresources::bind_refusals,
            "bind of a deleted pod is 404, of a re-created or terminating pod 409, to an empty node 400"
        ),
        case!(
            subresources::scale,
            "the scale subresource of Deployments and ReplicaSets reads and sets replicas, guarded by resourceVersion; Widgets have none (404)"
        ),
        case!(
            watch::event_order,
            "a watch sees ADDED, MODIFIED and DELETED in order, with the writes' resourceVersions"
        ),
        case!(
            watch::from_version,
            "a watch from a resourceVersion replays exactly the changes after it"
        ),
        case!(
            watch::initial_state,
            "a watch without a resourceVersion starts with the current objects as ADDED, then changes"
        ),
        case!(
            watch::namespace_scoped,
            "a namespaced watch sees nothing of other namespaces"
        ),
        case!(
            watch::field_selector_enter_leave,
            "a field-selector watch sees an object entering as ADDED and leaving as DELETED, even one that matched before the watch"
        ),
        case!(
            watch::label_selector_enter_leave,
            "a label-selector watch sees relabelling in and out as ADDED and DELETED, and deletion of a matching object"
        ),
        case!(
            watch::invalid_label_selector,
            "watch with a selector built in code with an invalid key or value is 400 BadRequest"
        ),
        case!(
            watch::bookmarks,
            "a watch that asks for bookmarks gets one past filtered-out writes; one that does not ask gets none"
        ),
        case!(watch::timeout_ends, "a watch with a timeout ends by itself"),
        case!(
            watch::compacted_version_is_gone,
            "a watch from a compacted resourceVersion is 410 Gone; a fresh list and watch recover (needs a compactor)"
        ),
        case!(
            errors::status_round_trip,
            "every error the service answers (404, 409 twice, 422, 400, 405) crosses JSON as a Status and comes back equal, with Kubernetes' code and reason"
        ),
    ]
}

/// Runs every case against subjects from `builder`, and reports on each.
pub async fn run_all<B: SubjectBuilder<ApiSubject>>(builder: B) -> Report {
    run_selected(builder, |_| true).await
}

/// Runs the cases `filter` accepts against subjects from `builder`, and reports on
/// each; for a service that documents a case as unsupported. A filter that accepts no
/// case makes a report that is no success.
pub async fn run_selected<B: SubjectBuilder<ApiSubject>>(
    builder: B,
    filter: impl Fn(&ApiCase) -> bool,
) -> Report {
    conformance::run("api", cases(), builder, filter).await
}
