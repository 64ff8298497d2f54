//! [`Kubeconfig`]: the file kubectl, kube-rs and client-go read to find a cluster,
//! written for an Orchestra API server.

use std::path::Path;

/// A kubeconfig with one cluster, one user and one context, all named `orchestra`
/// unless [`name`](Kubeconfig::name) says otherwise.
///
/// ```
/// use orchestra::kubeconfig::Kubeconfig;
///
/// let text = Kubeconfig::new("http://127.0.0.1:6443").to_yaml();
/// assert!(text.contains("server: http://127.0.0.1:6443"));
/// ```
#[derive(Clone, Debug)]
pub struct Kubeconfig {
    server: String,
    name: String,
    namespace: String,
}

impl Kubeconfig {
    /// A kubeconfig for the API server at `server` (`http://HOST:PORT`), with the
    /// `default` namespace.
    pub fn new(server: impl Into<String>) -> Self {
        Kubeconfig {
            server: server.into(),
            name: "orchestra".to_owned(),
            namespace: "default".to_owned(),
        }
    }

    /// The name of the cluster, user and context. Default `orchestra`.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The context's namespace. Default `default`.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The file's text (YAML; every value quoted, so no value can change its shape).
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| format!("{s:?}");
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: {name}\n  cluster:\n    server: {server}\n\
             users:\n\
             - name: {name}\n  user: {{}}\n\
             contexts:\n\
             - name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: {namespace}\n\
             current-context: {name}\n",
            name = q(&self.name),
            server = self.server,
            namespace = q(&self.namespace),
        )
    }

    /// Writes the file at `path`, replacing it whole (a reader never sees half of
    /// it): written beside it, then renamed over it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        std::fs::write(&partial, self.to_yaml())?;
        std::fs::rename(&partial, path)
    }
}
