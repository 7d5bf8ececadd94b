//! Repository-relative paths as strata stores them: `/`-separated, no `.`
//! or empty segments, no trailing `/`, and `.` for the repository root.
//!
//! Paths are handled as strings rather than `PathBuf`s because they come from
//! `strata.hcl` and end up in reports; only the final file-system checks
//! join them to the snapshot root.

/// Normalizes a repository-relative path; `None` if it is absolute or
/// climbs out of the repository with `..`.
pub(crate) fn normalize(path: &str) -> Option<String> {
    join(".", path)
}

/// Joins `rel` onto the normalized repository-relative `base` and normalizes
/// the result; `None` if `rel` is absolute or the result leaves the repository.
pub(crate) fn join(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.starts_with('\\') || has_drive_prefix(rel) {
        return None;
    }
    let mut parts: Vec<&str> = base
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    for segment in rel.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        Some(".".to_owned())
    } else {
        Some(parts.join("/"))
    }
}

/// `C:` and similar, which would make `Path::join` discard the root on Windows.
fn has_drive_prefix(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_dots_and_slashes() {
        assert_eq!(
            normalize("./infra//network/").as_deref(),
            Some("infra/network")
        );
        assert_eq!(
            normalize("infra/x/../network").as_deref(),
            Some("infra/network")
        );
        assert_eq!(normalize(".").as_deref(), Some("."));
        assert_eq!(normalize("").as_deref(), Some("."));
    }

    #[test]
    fn normalize_rejects_escapes_and_absolute_paths() {
        assert_eq!(normalize("../other"), None);
        assert_eq!(normalize("infra/../../x"), None);
        assert_eq!(normalize("/etc"), None);
        assert_eq!(normalize("C:/x"), None);
    }

    #[test]
    fn join_resolves_relative_to_base() {
        assert_eq!(
            join("infra/net", "prod.tfvars").as_deref(),
            Some("infra/net/prod.tfvars")
        );
        assert_eq!(
            join("infra/net", "../../common.tfvars").as_deref(),
            Some("common.tfvars")
        );
        assert_eq!(join("infra/net", "../../../x"), None);
        assert_eq!(join(".", "a.tfvars").as_deref(), Some("a.tfvars"));
    }
}
