//! Stack and workload names, and "did you mean" suggestions.
//!
//! Names end up in file names (per-stack state directories) and in the
//! Kubernetes label `strata.dev/workload=<name>`, so they follow the stricter
//! of both rules: `[a-z0-9][a-z0-9_-]*`, ending in a letter or digit, at most
//! 63 characters (the label value limit).

/// Longest name Kubernetes accepts as a label value.
const MAX_LEN: usize = 63;

/// Whether `name` may be used as a stack or workload name.
pub(crate) fn is_valid(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= MAX_LEN
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-' || c == '_')
}

/// Derives a valid name from a directory name (`My App` -> `my-app`); `None`
/// when nothing usable is left.
pub(crate) fn sanitize(dir: &str) -> Option<String> {
    let mut out = String::new();
    for c in dir.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '_');
    let mut name: String = trimmed.chars().take(MAX_LEN).collect();
    while name.ends_with(['-', '_']) {
        name.pop();
    }
    is_valid(&name).then_some(name)
}

/// The candidate closest to `wanted`, if it is close enough to be a typo.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // A third of the length tolerates one typo in short names and a few in
    // long ones without suggesting unrelated words.
    let limit = (wanted.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(wanted, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean "x"?)`, or empty when nothing is close.
pub(crate) fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(wanted, candidates)
        .map(|name| format!(" (did you mean {name:?}?)"))
        .unwrap_or_default()
}

/// Like [`did_you_mean`], but when nothing is close lists what exists, so
/// the user sees the choices (or learns there are none).
pub(crate) fn hint_from(wanted: &str, candidates: &[&str], what: &str) -> String {
    let suggestion = did_you_mean(wanted, candidates.iter().copied());
    if !suggestion.is_empty() {
        return suggestion;
    }
    if candidates.is_empty() {
        return format!("; no {what} is defined");
    }
    let shown: Vec<String> = candidates
        .iter()
        .take(10)
        .map(|c| format!("{c:?}"))
        .collect();
    let more = if candidates.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!("; defined: {}{more}", shown.join(", "))
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for good in ["network", "db-1", "a", "0", "my_app", "a-b_c9"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "",
            "Network",
            "-a",
            "_a",
            "a-",
            "a_",
            "a.b",
            "a b",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn sanitize_derives_names_from_directories() {
        assert_eq!(sanitize("network").as_deref(), Some("network"));
        assert_eq!(sanitize("My App").as_deref(), Some("my-app"));
        assert_eq!(sanitize("web.v2").as_deref(), Some("web-v2"));
        assert_eq!(sanitize("_internal_").as_deref(), Some("internal"));
        assert_eq!(sanitize("a  .b").as_deref(), Some("a-b"));
        assert_eq!(sanitize("___"), None);
        assert_eq!(sanitize("ü"), None);
        assert_eq!(sanitize(&"x".repeat(80)).map(|n| n.len()), Some(63));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let known = ["path", "var_files", "vars", "depends_on"];
        assert_eq!(closest("pth", known), Some("path"));
        assert_eq!(closest("depends", known), None);
        assert_eq!(closest("depend_on", known), Some("depends_on"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(
            did_you_mean("netwrok", ["network"]),
            " (did you mean \"network\"?)"
        );
    }

    #[test]
    fn hint_lists_candidates_when_nothing_is_close() {
        assert_eq!(
            hint_from("zzz", &["a", "b"], "stack"),
            "; defined: \"a\", \"b\""
        );
        assert_eq!(hint_from("zzz", &[], "stack"), "; no stack is defined");
    }
}
