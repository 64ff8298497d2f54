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
        "printf" => match printf(args) {
            Some(out) => (at_once(0), false, Some(out)),
            None => (
                at_once(1),
                false,
                Some("printf: missing operand\n".to_owned()),
            ),
        },
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

/// What `printf(1)` writes for `args` (a format, then its operands), for the part of
/// printf the conformance kit uses: the directives `%s` and `%%` and the escapes `\n`,
/// `\t` and `\\`; anything else is written as it stands. Like printf, it applies the
/// format again while operands remain, so each operand's boundaries show in the
/// output. `None` without a format.
fn printf(args: &[String]) -> Option<String> {
    let (format, mut operands) = args.split_first()?;
    let mut out = String::new();
    loop {
        let before = operands.len();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            match (c, chars.clone().next()) {
                ('\\', Some(escaped @ ('n' | 't' | '\\'))) => {
                    chars.next();
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        _ => '\\',
                    });
                }
                ('%', Some('%')) => {
                    chars.next();
                    out.push('%');
                }
                ('%', Some('s')) => {
                    chars.next();
                    if let Some((operand, rest)) = operands.split_first() {
                        out.push_str(operand);
                        operands = rest;
                    }
                }
                (c, _) => out.push(c),
            }
        }
        // A format that takes no operand is written once, whatever follows it.
        if operands.is_empty() || operands.len() == before {
            return Some(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::printf;

    fn run(args: &[&str]) -> Option<String> {
        printf(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn printf_repeats_its_format_for_every_operand() {
        assert_eq!(
            run(&[r"[%s]\n", "a b", "", " c "]).as_deref(),
            Some("[a b]\n[]\n[ c ]\n")
        );
        assert_eq!(run(&["%s-%s|", "a", "b", "c"]).as_deref(), Some("a-b|c-|"));
        assert_eq!(run(&[r"[%s]\n"]).as_deref(), Some("[]\n"));
    }

    #[test]
    fn printf_writes_what_it_does_not_know_as_it_stands() {
        assert_eq!(
            run(&[r"100%% %d \q\t\\ end\", "x"]).as_deref(),
            Some("100% %d \\q\t\\ end\\")
        );
        assert_eq!(
            run(&["no directive", "ignored"]).as_deref(),
            Some("no directive")
        );
        assert_eq!(run(&[]), None);
    }
}
