//! Object metadata the server owns: names, uids, timestamps.

/// The real server's message for an invalid DNS-1123 subdomain name.
pub const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// The real server's message for an invalid DNS-1123 label (namespaces,
/// services).
pub const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Whether `name` is a DNS-1123 label: at most 63 of `[a-z0-9-]`, starting
/// and ending alphanumeric.
pub fn is_dns1123_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `name` is a DNS-1123 subdomain: at most 253 characters of
/// dot-separated labels (each label's own length limit is not applied, as
/// in the real validation).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// The name rule a kind's objects follow, and its message on failure.
pub fn name_problem(kind: &str, name: &str) -> Option<String> {
    if matches!(
        kind,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
    ) {
        // RBAC names are path segments (`system:basic-user`), as the real
        // server validates them.
        return match name {
            "." | ".." => Some(format!("Invalid value: {name:?}: may not be '{name}'")),
            _ if name.contains('/') => {
                Some(format!("Invalid value: {name:?}: may not contain '/'"))
            }
            _ if name.contains('%') => {
                Some(format!("Invalid value: {name:?}: may not contain '%'"))
            }
            _ => None,
        };
    }
    let label = matches!(kind, "Namespace" | "Service");
    let ok = if label {
        is_dns1123_label(name)
    } else {
        is_dns1123_subdomain(name)
    };
    if ok {
        return None;
    }
    let mut message = format!(
        "Invalid value: {name:?}: {}",
        if label {
            LABEL_MESSAGE
        } else {
            SUBDOMAIN_MESSAGE
        }
    );
    if label && name.len() > 63 {
        message = format!("Invalid value: {name:?}: must be no more than 63 characters");
    } else if !label && name.len() > 253 {
        message = format!("Invalid value: {name:?}: must be no more than 253 characters");
    }
    Some(message)
}

/// A random version-4 UUID, as the server gives every object.
pub fn uid() -> String {
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Now, as metav1.Time serializes it: RFC 3339 in UTC, whole seconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The five random characters `generateName` gets, from the real server's
/// alphabet (no vowels, no confusable characters).
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("podinfo.example-1"));
        assert!(!is_dns1123_subdomain("Podinfo"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(is_dns1123_label("apps-1"));
        assert!(!is_dns1123_label("a.b"));
        assert!(
            name_problem("Namespace", "a.b")
                .unwrap()
                .contains("RFC 1123 label")
        );
        assert!(name_problem("ConfigMap", "a.b").is_none());
        assert!(
            name_problem("ConfigMap", "A")
                .unwrap()
                .contains("RFC 1123 subdomain")
        );
    }

    #[test]
    fn uids_look_like_uuids() {
        let u = uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(uid(), u);
        assert_eq!(name_suffix().len(), 5);
    }
}
