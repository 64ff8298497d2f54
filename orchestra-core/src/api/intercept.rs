//! The [`Intercept`] middleware.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::resource::ApiResource;

use super::body::ObjectBody;
use super::error::{ApiError, ErrorBody};
use super::params::{
    Binding, DeleteOutcome, DeleteParams, ListParams, ObjectList, Patch, Scale, WatchParams,
};
use super::service::{BodyWatch, ObjectService, Target};

/// One call to an [`ObjectService`], as an [`Intercept`] hook sees it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Call<'a> {
    /// Discovery.
    Resources,
    /// A create in `target`.
    Create {
        /// The kind and namespace.
        target: Target<'a>,
    },
    /// A get of `name`.
    Get {
        /// The kind and namespace.
        target: Target<'a>,
        /// The object's name.
        name: &'a str,
    },
    /// A list.
    List {
        /// The kind and namespace.
        target: Target<'a>,
        /// The list's parameters.
        params: &'a ListParams,
    },
    /// A replace of `name` (`status`: of its status).
    Replace {
        /// The kind and namespace.
        target: Target<'a>,
        /// The object's name.
        name: &'a str,
        /// Whether the status is replaced.
        status: bool,
    },
    /// A patch of `name` (`status`: of its status).
    Patch {
        /// The kind and namespace.
        target: Target<'a>,
        /// The object's name.
        name: &'a str,
        /// Whether the status is patched.
        status: bool,
    },
    /// A delete of `name`.
    Delete {
        /// The kind and namespace.
        target: Target<'a>,
        /// The object's name.
        name: &'a str,
    },
    /// A bind of the pod `name`.
    Bind {
        /// The pod's namespace.
        namespace: &'a str,
        /// The pod's name.
        name: &'a str,
        /// The node.
        node_name: &'a str,
    },
    /// A read or write of the scale subresource of `name`.
    Scale {
        /// The kind and namespace.
        target: Target<'a>,
        /// The object's name.
        name: &'a str,
        /// Whether it is a write.
        write: bool,
    },
    /// A watch.
    Watch {
        /// The kind and namespace.
        target: Target<'a>,
        /// The watch's parameters.
        params: &'a WatchParams,
    },
}

impl Call<'_> {
    /// Whether the call may change state.
    pub fn is_write(&self) -> bool {
        match self {
            Call::Create { .. }
            | Call::Replace { .. }
            | Call::Patch { .. }
            | Call::Delete { .. }
            | Call::Bind { .. } => true,
            Call::Scale { write, .. } => *write,
            Call::Resources | Call::Get { .. } | Call::List { .. } | Call::Watch { .. } => false,
        }
    }

    /// The kind the call addresses (none for discovery; pods for a bind).
    pub fn resource(&self) -> Option<&ApiResource> {
        match self {
            Call::Create { target }
            | Call::Get { target, .. }
            | Call::List { target, .. }
            | Call::Replace { target, .. }
            | Call::Patch { target, .. }
            | Call::Delete { target, .. }
            | Call::Scale { target, .. }
            | Call::Watch { target, .. } => Some(target.resource),
            Call::Resources | Call::Bind { .. } => None,
        }
    }
}

/// A hook an [`Intercept`] calls before each call: `Err` fails the call with that
/// error, without making it.
pub type BeforeHook = Arc<dyn Fn(&Call<'_>) -> Result<(), ApiError> + Send + Sync>;

/// A middleware around any [`ObjectService`] that sees every call
/// before it is made, may fail it, and can be cut like a network connection.
///
/// It is how a test cuts what a network cut would cut — a control-plane replica that
/// "crashes" loses its connection to the API, so it writes nothing more and its
/// watches end — and how a test injects a fault into one kind of call or counts
/// calls, without a hand-written pass-through wrapper.
///
/// ```
/// use std::sync::Arc;
/// use orchestra_core::api::{ApiError, Call, Intercept};
/// use orchestra_core::{Client, registry::Registry};
/// # fn demo(registry: Registry) {
/// let cut = tokio_util::sync::CancellationToken::new();
/// let link = Intercept::new(registry)
///     .cut_by(cut.clone())
///     .before(|call: &Call<'_>| match call {
///         Call::Bind { name, .. } if name.starts_with("doomed-") => {
///             Err(ApiError::bad_request("injected bind failure"))
///         }
///         _ => Ok(()),
///     });
/// let client = Client::new(link);
/// cut.cancel(); // from now on every call of `client` fails, and its watches end
/// # }
/// ```
#[derive(Clone)]
pub struct Intercept {
    inner: Arc<dyn ObjectService>,
    before: Option<BeforeHook>,
    cut: Option<CancellationToken>,
}

impl std::fmt::Debug for Intercept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercept")
            .field(
                "cut",
                &self.cut.as_ref().map(CancellationToken::is_cancelled),
            )
            .finish_non_exhaustive()
    }
}

impl Intercept {
    /// Wraps `inner`, letting every call through.
    pub fn new(inner: impl ObjectService) -> Intercept {
        Intercept::over(Arc::new(inner))
    }

    /// Wraps a shared service.
    pub fn over(inner: Arc<dyn ObjectService>) -> Intercept {
        Intercept {
            inner,
            before: None,
            cut: None,
        }
    }

    /// Calls `hook` before each call; an `Err` fails the call.
    #[must_use]
    pub fn before(
        mut self,
        hook: impl Fn(&Call<'_>) -> Result<(), ApiError> + Send + Sync + 'static,
    ) -> Self {
        self.before = Some(Arc::new(hook));
        self
    }

    /// Cuts the connection when `cut` fires: every call from then on fails with
    /// [`ApiError::Unavailable`], and every watch through it ends.
    #[must_use]
    pub fn cut_by(mut self, cut: CancellationToken) -> Self {
        self.cut = Some(cut);
        self
    }

    fn check(&self, call: &Call<'_>) -> Result<(), ApiError> {
        if self
            .cut
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
        {
            return Err(ApiError::Unavailable(ErrorBody {
                message: "the connection to the server is cut".to_owned(),
                details: None,
            }));
        }
        match &self.before {
            Some(hook) => hook(call),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ObjectService for Intercept {
    async fn resources(&self) -> Result<Vec<ApiResource>, ApiError> {
        self.check(&Call::Resources)?;
        self.inner.resources().await
    }

    async fn create(&self, target: Target<'_>, obj: ObjectBody) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Create { target })?;
        self.inner.create(target, obj).await
    }

    async fn get(&self, target: Target<'_>, name: &str) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Get { target, name })?;
        self.inner.get(target, name).await
    }

    async fn list(
        &self,
        target: Target<'_>,
        params: &ListParams,
    ) -> Result<ObjectList<ObjectBody>, ApiError> {
        self.check(&Call::List { target, params })?;
        self.inner.list(target, params).await
    }

    async fn replace(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Replace {
            target,
            name,
            status: false,
        })?;
        self.inner.replace(target, name, obj).await
    }

    async fn replace_status(
        &self,
        target: Target<'_>,
        name: &str,
        obj: ObjectBody,
    ) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Replace {
            target,
            name,
            status: true,
        })?;
        self.inner.replace_status(target, name, obj).await
    }

    async fn patch(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Patch {
            target,
            name,
            status: false,
        })?;
        self.inner.patch(target, name, patch).await
    }

    async fn patch_status(
        &self,
        target: Target<'_>,
        name: &str,
        patch: &Patch,
    ) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Patch {
            target,
            name,
            status: true,
        })?;
        self.inner.patch_status(target, name, patch).await
    }

    async fn delete(
        &self,
        target: Target<'_>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome<ObjectBody>, ApiError> {
        self.check(&Call::Delete { target, name })?;
        self.inner.delete(target, name, params).await
    }

    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<ObjectBody, ApiError> {
        self.check(&Call::Bind {
            namespace,
            name,
            node_name: &binding.node_name,
        })?;
        self.inner.bind(namespace, name, binding).await
    }

    async fn get_scale(&self, target: Target<'_>, name: &str) -> Result<Scale, ApiError> {
        self.check(&Call::Scale {
            target,
            name,
            write: false,
        })?;
        self.inner.get_scale(target, name).await
    }

    async fn replace_scale(
        &self,
        target: Target<'_>,
        name: &str,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        self.check(&Call::Scale {
            target,
            name,
            write: true,
        })?;
        self.inner.replace_scale(target, name, scale).await
    }

    async fn watch(&self, target: Target<'_>, params: &WatchParams) -> Result<BodyWatch, ApiError> {
        self.check(&Call::Watch { target, params })?;
        let stream = self.inner.watch(target, params).await?;
        Ok(match &self.cut {
            Some(cut) => Box::pin(stream.take_until(cut.clone().cancelled_owned())),
            None => stream,
        })
    }
}
