//! The [`Resource`] trait: what makes a Rust type a kind the machinery can store, watch
//! and reconcile.
//!
//! Built-in kinds implement it, and users implement it for their own kinds the same way;
//! nothing in the store, the typed [`Api`](crate::api::Api) or the reconcile machinery
//! knows any kind by name.
//!
//! ```
//! use orchestra_core::{ObjectMeta, Resource, Scope};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! pub struct Echo {
//!     pub metadata: ObjectMeta,
//!     pub spec: EchoSpec,
//!     #[serde(default, skip_serializing_if = "Option::is_none")]
//!     pub status: Option<EchoStatus>,
//! }
//! #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
//! pub struct EchoSpec { pub message: String }
//! #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
//! pub struct EchoStatus { pub echoed: String }
//!
//! impl Resource for Echo {
//!     const KIND: &'static str = "Echo";
//!     const API_VERSION: &'static str = "example.dev/v1";
//!     const PLURAL: &'static str = "echoes";
//!     const SCOPE: Scope = Scope::Namespaced;
//!     fn meta(&self) -> &ObjectMeta { &self.metadata }
//!     fn meta_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
//! }
//! ```

use std::borrow::Cow;
use std::fmt::{self, Debug};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::meta::{ObjectMeta, OwnerReference};

/// Whether objects of a kind live in a namespace or in the cluster as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects have a namespace (Pods, Deployments).
    Namespaced,
    /// Objects have no namespace (Nodes).
    Cluster,
}

/// A kind of object: its identity (kind, apiVersion, plural, scope) and its metadata.
///
/// This is all a kind is on the client side, as in kube-core: what the object is
/// called and where its metadata sits. What a server does with it — defaults,
/// validation, what counts as the desired state, how status is written, grace periods,
/// selectable fields — is the kind's [`Strategy`](crate::registry::Strategy), registered
/// with the server's [`Registry`](crate::registry::Registry).
///
/// The serialized form must be a JSON object with a `metadata` field; by convention the
/// desired state is under `spec` and the observed state under `status`. `apiVersion`
/// and `kind` are added when an object is stored or sent, so implementors need not
/// carry them.
pub trait Resource: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind, e.g. `Deployment`. Unique within the API group.
    const KIND: &'static str;
    /// Group and version, e.g. `apps/v1` (the core group is just `v1`).
    const API_VERSION: &'static str;
    /// The lowercase plural that names the kind in paths and store keys, e.g.
    /// `deployments`.
    const PLURAL: &'static str;
    /// Whether the kind is namespaced or cluster-scoped.
    const SCOPE: Scope;
    /// The lowercase singular, e.g. `deployment`; empty means the lowercased kind.
    const SINGULAR: &'static str = "";
    /// Short names tools accept for the kind, e.g. `["deploy"]`.
    const SHORT_NAMES: &'static [&'static str] = &[];

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;

    /// The object's metadata, mutably.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// The kind's descriptor, built from the constants above.
    fn api_resource() -> ApiResource {
        ApiResource::of::<Self>()
    }
}

/// A kind's descriptor: everything a client or a server needs to name and route the
/// kind at run time — group, version, kind, plural, singular, short names and scope.
///
/// Every [`Resource`] has one ([`Resource::api_resource`]); a server can also build one
/// at run time for a kind it learns of (from discovery, say), and the typed API, the
/// registry, discovery and the garbage collector all find kinds by it. Cheap to clone:
/// the descriptor of a compiled-in kind borrows its constants.
///
/// ```
/// use orchestra_core::kinds::Deployment;
/// use orchestra_core::{ApiResource, Resource, Scope};
///
/// let deployments = Deployment::api_resource();
/// assert_eq!(deployments.api_version(), "apps/v1");
/// assert_eq!(deployments.group_resource().to_string(), "deployments.apps");
/// assert_eq!(deployments.short_names(), ["deploy"]);
///
/// let gadgets = ApiResource::new("example.dev", "v1", "Gadget", "gadgets", Scope::Namespaced)
///     .with_short_names(["gd"]);
/// assert_eq!(gadgets.singular(), "gadget");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiResource {
    group: Cow<'static, str>,
    version: Cow<'static, str>,
    kind: Cow<'static, str>,
    plural: Cow<'static, str>,
    singular: Cow<'static, str>,
    short_names: Cow<'static, [Cow<'static, str>]>,
    scope: Scope,
}

impl ApiResource {
    /// The descriptor of kind `K`.
    pub fn of<K: Resource>() -> ApiResource {
        let (group, version) = split_api_version(K::API_VERSION);
        let singular = if K::SINGULAR.is_empty() {
            Cow::Owned(K::KIND.to_ascii_lowercase())
        } else {
            Cow::Borrowed(K::SINGULAR)
        };
        ApiResource {
            group: Cow::Borrowed(group),
            version: Cow::Borrowed(version),
            kind: Cow::Borrowed(K::KIND),
            plural: Cow::Borrowed(K::PLURAL),
            singular,
            short_names: K::SHORT_NAMES.iter().map(|s| Cow::Borrowed(*s)).collect(),
            scope: K::SCOPE,
        }
    }

    /// A descriptor built at run time; the singular defaults to the lowercased kind.
    /// `group` is empty for the core group.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        plural: impl Into<String>,
        scope: Scope,
    ) -> ApiResource {
        let kind: String = kind.into();
        ApiResource {
            group: Cow::Owned(group.into()),
            version: Cow::Owned(version.into()),
            singular: Cow::Owned(kind.to_ascii_lowercase()),
            kind: Cow::Owned(kind),
            plural: Cow::Owned(plural.into()),
            short_names: Cow::Owned(Vec::new()),
            scope,
        }
    }

    /// Sets the singular name.
    #[must_use]
    pub fn with_singular(mut self, singular: impl Into<String>) -> Self {
        self.singular = Cow::Owned(singular.into());
        self
    }

    /// Sets the short names.
    #[must_use]
    pub fn with_short_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.short_names = names.into_iter().map(|n| Cow::Owned(n.into())).collect();
        self
    }

    /// The API group; empty for the core group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The version within the group, e.g. `v1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `group/version`, or just the version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The plural, e.g. `deployments`.
    pub fn plural(&self) -> &str {
        &self.plural
    }

    /// The singular, e.g. `deployment`.
    pub fn singular(&self) -> &str {
        &self.singular
    }

    /// The short names, e.g. `["deploy"]`.
    pub fn short_names(&self) -> Vec<&str> {
        self.short_names.iter().map(|s| &**s).collect()
    }

    /// Whether objects of the kind are namespaced.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Whether objects of the kind live in namespaces.
    pub fn is_namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The kind's plural qualified by its group (`deployments.apps`, `pods`), as
    /// Kubernetes names a resource in messages.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.to_string(),
            resource: self.plural.to_string(),
        }
    }

    /// The kind qualified by its group (`Deployment.apps`, `Pod`).
    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group.to_string(),
            kind: self.kind.to_string(),
        }
    }

    /// Whether this descriptor names the kind `kind` of `api_version`, as an owner
    /// reference or a scale target does.
    pub fn is(&self, api_version: &str, kind: &str) -> bool {
        let (group, version) = split_api_version(api_version);
        self.kind == kind && self.group == group && self.version == version
    }

    /// Whether `K` is this kind (same group, version and plural).
    pub fn is_of<K: Resource>(&self) -> bool {
        let (group, version) = split_api_version(K::API_VERSION);
        self.plural == K::PLURAL && self.group == group && self.version == version
    }
}

impl fmt::Debug for ApiResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.api_version(), self.plural, self.kind)
    }
}

impl fmt::Display for ApiResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.group_resource(), f)
    }
}

/// A resource qualified by its group, e.g. `deployments.apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// The group; empty for the core group.
    pub group: String,
    /// The plural resource name.
    pub resource: String,
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A kind qualified by its group, e.g. `Deployment.apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKind {
    /// The group; empty for the core group.
    pub group: String,
    /// The kind.
    pub kind: String,
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Extra conveniences for every [`Resource`].
pub trait ResourceExt: Resource {
    /// The object's name, or `""` when it has none yet.
    fn name_any(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    /// The object's namespace, if it has one.
    fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The object's uid, or `""` before it is stored.
    fn uid(&self) -> &str {
        self.meta().uid.as_deref().unwrap_or("")
    }

    /// The object's resourceVersion parsed as a store revision (0 when unset).
    fn resource_version(&self) -> u64 {
        self.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The object's labels.
    fn labels(&self) -> &crate::StringMap {
        &self.meta().labels
    }

    /// An owner reference pointing at this object, for its dependents. `controller`
    /// marks it as the managing owner; foreground deletion waits for such dependents.
    fn owner_reference(&self, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: Self::API_VERSION.to_owned(),
            kind: Self::KIND.to_owned(),
            name: self.name_any().to_owned(),
            uid: self.uid().to_owned(),
            controller: controller.then_some(true),
            block_owner_deletion: controller.then_some(true),
        }
    }

    /// `namespace/name` (or just `name` for cluster-scoped objects), for logs.
    fn object_key(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name_any()),
            None => self.name_any().to_owned(),
        }
    }
}

impl<K: Resource> ResourceExt for K {}
