//! `/version`: what `kubectl version` prints, and what the `kubectl` dispatcher on
//! these machines reads to pick its kubectl build (by the minor version).

use serde_json::{Value, json};

/// The Kubernetes version the server reports, and its own.
#[derive(Clone, Debug)]
pub struct ServerVersion {
    major: u32,
    minor: u32,
}

impl Default for ServerVersion {
    /// Kubernetes 1.31: the API this server serves, and the last kubectl that sends
    /// every request body as JSON (1.32 and later send protobuf for some creates).
    fn default() -> Self {
        ServerVersion {
            major: 1,
            minor: 31,
        }
    }
}

impl ServerVersion {
    /// Reports Kubernetes `major.minor`.
    pub fn kubernetes(major: u32, minor: u32) -> Self {
        ServerVersion { major, minor }
    }

    /// The `version.Info` document.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "major": self.major.to_string(),
            "minor": self.minor.to_string(),
            "gitVersion": format!("v{}.{}.0+orchestra-{}", self.major, self.minor, env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "",
            "goVersion": "",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
        })
    }
}

/// The architecture in Go's spelling, as clients expect it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
