//! This machine's name, the default of a node agent's node name and part of a leader
//! election candidate's default identity (as the kubelet and client-go take them).

/// The host's name from the kernel, lower-cased (a node name is a DNS-1123 subdomain);
/// `localhost` when it cannot be read.
pub(crate) fn host_name() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) if !name.trim().is_empty() => name.trim().to_ascii_lowercase(),
        Ok(_) => "localhost".to_owned(),
        Err(error) => {
            tracing::debug!(%error, "cannot read the host name; using localhost");
            "localhost".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_name_is_a_lower_case_word() {
        let name = super::host_name();
        assert!(!name.is_empty());
        assert_eq!(name, name.to_ascii_lowercase());
        assert_eq!(name, name.trim());
    }
}
