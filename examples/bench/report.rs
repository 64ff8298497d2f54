//! Printing figures: an aligned table for people, one `RESULT` JSON line for tools.

use std::time::Duration;

/// Rows of (measurement, figure, unit) printed as an aligned table.
#[derive(Default)]
pub struct Table {
    title: String,
    rows: Vec<(String, String, String)>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(
        &mut self,
        name: impl Into<String>,
        value: impl std::fmt::Display,
        unit: impl Into<String>,
    ) {
        self.rows
            .push((name.into(), value.to_string(), unit.into()));
    }

    pub fn print(&self) {
        let w0 = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = self.rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        println!("\n{}", self.title);
        println!("{}", "-".repeat(self.title.len()));
        for (name, value, unit) in &self.rows {
            println!("  {name:<w0$}  {value:>w1$}  {unit}");
        }
    }
}

/// Operations per second, rounded.
pub fn per_sec(ops: u64, elapsed: Duration) -> f64 {
    (ops as f64 / elapsed.as_secs_f64()).round()
}

/// A human-readable count with thousands separators.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints the machine-readable last line.
pub fn result_line(value: serde_json::Value) {
    println!("RESULT {value}");
}
