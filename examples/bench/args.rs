//! A small command-line parser: positional words and `--name value` options, with an
//! error naming any option that was not used.

use std::collections::BTreeMap;
use std::str::FromStr;

/// The benchmark's arguments.
pub struct Args {
    positional: Vec<String>,
    options: BTreeMap<String, String>,
}

impl Args {
    /// Parses `std::env::args`, accepting `--name value` and `--name=value`.
    pub fn from_env() -> Args {
        let mut positional = Vec::new();
        let mut options = BTreeMap::new();
        let mut iter = std::env::args().skip(1).peekable();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if let Some((name, value)) = name.split_once('=') {
                    options.insert(name.to_owned(), value.to_owned());
                } else {
                    let value = match iter.peek() {
                        Some(v) if !v.starts_with("--") => iter.next().unwrap_or_default(),
                        _ => "true".to_owned(),
                    };
                    options.insert(name.to_owned(), value);
                }
            } else {
                positional.push(arg);
            }
        }
        positional.reverse();
        Args {
            positional,
            options,
        }
    }

    /// The next positional word.
    pub fn positional(&mut self) -> Option<String> {
        self.positional.pop()
    }

    /// The value of `--name`, parsed, or `default` when absent.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.options.remove(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}")),
        }
    }

    /// Fails if any option or word was not used: a typo must not silently measure the
    /// default.
    pub fn finish(self) -> Result<(), String> {
        if let Some(name) = self.options.keys().next() {
            return Err(format!("unknown option --{name}"));
        }
        if let Some(word) = self.positional.last() {
            return Err(format!("unexpected argument {word:?}"));
        }
        Ok(())
    }
}
