//! The well-known images a simulated container interprets like the programs of the
//! same name, so that the conformance kit runs the same specs against `SimRuntime` and
//! real processes.

use std::time::Duration;

use super::SimBehavior;

/// What a well-known image does: its behaviour, whether it ignores TERM, and what it
/// writes at start.
pub(super) struct WellKnown {
    pub behavior: SimBehavior,
    pub ignores_term: bool,
    pub output: Option<String>,
}

pub(super) fn well_known(image: &str, args: &[String]) -> Option<WellKnown> {
    let program = image.rsplit('/').next().unwrap_or(image);
    let seconds = || {
        let secs = args
            .first()
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(0.0);
        Duration::from_secs_f64(secs)
    };
    let at_once = |code| SimBehavior::exit_after(Duration::ZERO, code);
    let (behavior, ignores_term, output) = match program {
        "true" => (at_once(0), false, None),
        "false" => (at_once(1), false, None),
        "sleep" => (SimBehavior::exit_after(seconds(), 0), false, None),
        "echo" => (at_once(0), false, Some(format!("{}\n", args.join(" ")))),
        "orchestra-ignore-term" => (
            SimBehavior::exit_after(seconds(), 0),
            true,
            Some("ready\n".to_owned()),
        ),
        _ => return None,
    };
    Some(WellKnown {
        behavior,
        ignores_term,
        output,
    })
}
