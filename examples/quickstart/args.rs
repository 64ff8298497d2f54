//! The quickstart's command line: which store, which runtime, how many replicas; or
//! `--serve PORT` to be one replica of the web server.

use orchestra::cluster::StoreSpec;

/// Which container runtime the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Simulated containers (default).
    Sim,
    /// Real OS processes: each replica is this binary serving HTTP.
    Process,
}

/// What the quickstart was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Run the scenario.
    Demo(DemoArgs),
    /// Be one replica of the web server: serve HTTP on `port` (0: any free port).
    Serve {
        /// The port to listen on, on 127.0.0.1.
        port: u16,
        /// The image name to answer with.
        image: String,
    },
}

/// The scenario's settings.
#[derive(Debug)]
pub struct DemoArgs {
    /// Where the cluster's state lives.
    pub store: StoreSpec,
    /// What the nodes run containers with.
    pub runtime: RuntimeKind,
    /// The Deployment's size (1,000 simulated, 20 as processes).
    pub replicas: i32,
    /// How many nodes.
    pub nodes: usize,
}

pub const USAGE: &str = "\
usage: quickstart [--store memory|durable:PATH|etcd:URL] [--runtime sim|process]
                  [--replicas N] [--nodes N]
       quickstart --serve PORT [--image NAME]   (one replica of the demo web server)";

/// Reads the arguments after the program name. Errors name the flag at fault.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut store = StoreSpec::Memory;
    let mut runtime = RuntimeKind::Sim;
    let mut replicas = None;
    let mut nodes = 10;
    let mut serve = None;
    let mut image = "web-server:1".to_owned();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--store" => {
                let v = value("--store")?;
                store = v.parse().map_err(|e| format!("--store: {e}"))?;
            }
            "--runtime" => {
                runtime = match value("--runtime")?.as_str() {
                    "sim" => RuntimeKind::Sim,
                    "process" => {
                        if !cfg!(unix) {
                            return Err("--runtime process: needs a Unix host".to_owned());
                        }
                        RuntimeKind::Process
                    }
                    other => {
                        return Err(format!(
                            "--runtime: expected `sim` or `process`, got {other:?}"
                        ));
                    }
                }
            }
            "--replicas" => replicas = Some(number("--replicas", &value("--replicas")?, 1)?),
            "--nodes" => nodes = number("--nodes", &value("--nodes")?, 2)? as usize,
            "--serve" => {
                let v = value("--serve")?;
                serve = Some(
                    v.parse::<u16>()
                        .map_err(|_| format!("--serve: expected a port number, got {v:?}"))?,
                );
            }
            "--image" => image = value("--image")?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    if let Some(port) = serve {
        return Ok(Command::Serve { port, image });
    }
    let replicas = replicas.unwrap_or(match runtime {
        RuntimeKind::Sim => 1000,
        RuntimeKind::Process => 20,
    });
    Ok(Command::Demo(DemoArgs {
        store,
        runtime,
        replicas,
        nodes,
    }))
}

fn number(flag: &str, v: &str, min: i32) -> Result<i32, String> {
    match v.parse::<i32>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "{flag}: expected a whole number of at least {min}, got {v:?}"
        )),
    }
}
