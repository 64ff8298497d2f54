//! Turning a container spec into a process: which executable runs with which
//! arguments and environment, and how its end is reported.
//!
//! The rule (Kubernetes' entrypoint semantics, with the image standing for its own
//! entrypoint):
//!
//! - `command` empty: run `image` with `args`;
//! - `command` non-empty: run `command[0]` with `command[1..]` followed by `args`;
//!   `image` is then only a label.
//!
//! The executable is an absolute path, or a bare name looked up in the runtime's image
//! directories and then its search path; a name that is not found, or is not an
//! executable file, is `ImageNotFound` naming it. Arguments go to `execve` as they are:
//! there is never a shell, so `;`, `$(…)` and `*` arrive literally.
//!
//! The environment is the container's `env` over a minimal `PATH`, nothing inherited
//! from the agent. Every container is the leader of its own process group, so stopping
//! it reaches everything it started.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use orchestra_core::kinds::{Container, EnvVar};
use orchestra_core::runtime::RuntimeError;
use tokio::process::Command;

/// The `PATH` a container gets unless its spec sets one.
pub(super) const CONTAINER_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where executables are looked up.
#[derive(Clone, Debug)]
pub(super) struct Resolver {
    /// Searched first, in order.
    pub image_dirs: Vec<PathBuf>,
    /// Then these, in order.
    pub search_path: Vec<PathBuf>,
}

impl Resolver {
    /// The executable `program` names; `Err` says why there is none.
    pub fn resolve(&self, program: &str) -> Result<PathBuf, String> {
        if program.is_empty() {
            return Err("empty executable name".to_owned());
        }
        if program.contains('/') {
            let path = Path::new(program);
            if !path.is_absolute() {
                return Err("a path must be absolute".to_owned());
            }
            return check_executable(path).map(|()| path.to_owned());
        }
        let mut reasons = Vec::new();
        for dir in self.image_dirs.iter().chain(&self.search_path) {
            let candidate = dir.join(program);
            match check_executable(&candidate) {
                Ok(()) => return Ok(candidate),
                Err(why) if candidate.exists() => reasons.push(why),
                Err(_) => {}
            }
        }
        Err(match reasons.pop() {
            Some(why) => why,
            None => "no such executable in the image directories or on the search path".to_owned(),
        })
    }
}

fn check_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    Ok(())
}

/// What to execute for a container: the resolved program and its arguments.
#[derive(Debug)]
pub(super) struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Applies the command rule (see the module docs) to `spec`.
pub(super) fn invocation(
    resolver: &Resolver,
    spec: &Container,
) -> Result<Invocation, RuntimeError> {
    if spec.image.is_empty() {
        return Err(RuntimeError::InvalidConfig("empty image".to_owned()));
    }
    let (name, args): (&str, Vec<String>) = match spec.command.split_first() {
        None => (&spec.image, spec.args.clone()),
        Some((first, rest)) => (first, rest.iter().chain(&spec.args).cloned().collect()),
    };
    let program = resolver
        .resolve(name)
        .map_err(|reason| RuntimeError::ImageNotFound {
            image: name.to_owned(),
            reason: if spec.command.is_empty() {
                reason
            } else {
                format!("command[0] of image {:?}: {reason}", spec.image)
            },
        })?;
    Ok(Invocation { program, args })
}

/// A command for `invocation` with the container's environment, in a process group
/// of its own, stdin closed, stdout and stderr as given.
pub(super) fn command(
    invocation: &Invocation,
    env: &[EnvVar],
    stdout: Stdio,
    stderr: Stdio,
) -> Command {
    let mut cmd = Command::new(&invocation.program);
    cmd.args(&invocation.args)
        .env_clear()
        .env("PATH", CONTAINER_PATH)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own group, so stop signals reach its whole tree (std's safe setpgid).
        .process_group(0)
        // The container outlives this handle: the agent may restart and re-adopt it.
        .kill_on_drop(false);
    for var in env {
        cmd.env(&var.name, &var.value);
    }
    cmd
}

/// How an exit status is reported: `(exit_code, signal, reason)`; a signal `n` is
/// exit code 128 + n, as shells and Kubernetes report it.
pub(super) fn describe_exit(status: ExitStatus) -> (i32, Option<i32>, &'static str) {
    match (status.code(), status.signal()) {
        (Some(0), _) => (0, None, "Completed"),
        (Some(code), _) => (code, None, "Error"),
        (None, Some(sig)) => (128 + sig, Some(sig), "Error"),
        (None, None) => (-1, None, "Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver {
            image_dirs: vec![],
            search_path: vec!["/usr/bin".into(), "/bin".into()],
        }
    }

    fn spec(image: &str, command: &[&str], args: &[&str]) -> Container {
        Container {
            name: "c".into(),
            image: image.into(),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            ..Container::default()
        }
    }

    #[test]
    fn image_is_the_entrypoint_unless_command_overrides_it() {
        let r = resolver();
        let inv = invocation(&r, &spec("echo", &[], &["a", "b"])).unwrap();
        assert!(inv.program.ends_with("echo"));
        assert_eq!(inv.args, ["a", "b"]);
        let inv = invocation(&r, &spec("web:1", &["sleep", "1"], &["2"])).unwrap();
        assert!(inv.program.ends_with("sleep"));
        assert_eq!(inv.args, ["1", "2"]);
    }

    #[test]
    fn unknown_and_relative_programs_are_image_not_found() {
        let r = resolver();
        for (image, command) in [("no-such-program-here", &[][..]), ("x", &["bin/ls"][..])] {
            match invocation(&r, &spec(image, command, &[])) {
                Err(RuntimeError::ImageNotFound { image: named, .. }) => {
                    assert!(named == image || named == command[0]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            invocation(&r, &spec("", &[], &[])),
            Err(RuntimeError::InvalidConfig(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "data").unwrap();
        let err = r.resolve(plain.to_str().unwrap()).unwrap_err();
        assert!(err.contains("not executable"), "{err}");
    }
}
