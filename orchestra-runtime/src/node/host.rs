//! What this machine offers, for an agent that runs real processes on it.

use orchestra_core::{Quantity, ResourceList};

/// The host's capacity: `cpu` from the available parallelism, `memory` from
/// `/proc/meminfo`'s `MemTotal`, and 110 `pods` (Kubernetes' default). What cannot be
/// read is left out, so the caller's default stays.
pub fn host_capacity() -> ResourceList {
    let mut capacity = ResourceList::new();
    if let Ok(cpus) = std::thread::available_parallelism() {
        let cpus = i64::try_from(cpus.get()).unwrap_or(i64::MAX);
        capacity.insert("cpu".to_owned(), Quantity::from_value(cpus));
    }
    match std::fs::read_to_string("/proc/meminfo") {
        Ok(meminfo) => {
            if let Some(bytes) = mem_total_bytes(&meminfo) {
                capacity.insert("memory".to_owned(), Quantity::from_value(bytes));
            }
        }
        Err(error) => {
            tracing::info!(%error, "cannot read /proc/meminfo; keeping the configured memory capacity")
        }
    }
    capacity.insert("pods".to_owned(), Quantity::from_value(110));
    capacity
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: i64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total_bytes(text), Some(24_576_000 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn the_host_has_some_cpu_and_pods() {
        let capacity = host_capacity();
        assert!(capacity["cpu"].value() >= 1);
        assert_eq!(capacity["pods"].value(), 110);
    }
}
