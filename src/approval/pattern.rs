//! `approval.protect` patterns: `*` matches any run of characters (dots and
//! brackets included), `?` one character; everything else is literal, so
//! instance keys such as `aws_instance.web[0]` or `module.x["a"]` need no
//! escaping.
//!
//! A pattern protects an address when it matches the resource address, the
//! path of any module it is in, with or without instance keys (`module.db`
//! protects everything inside `module.db`, `module.db[0]` and
//! `module.db.module.inner`), or the address it was moved from.

use wildmatch::WildMatch;

/// Whether `pattern` matches `address` as a whole.
pub fn matches(pattern: &str, address: &str) -> bool {
    WildMatch::new(pattern).matches(address)
}

/// Every module path containing `module_address`, outermost first, each
/// with and without its instance key: `module.a[0].module.b` gives
/// `module.a[0]`, `module.a`, `module.a[0].module.b`.
pub fn module_paths(module_address: &str) -> Vec<String> {
    // Split on dots outside brackets and quotes: keys may hold dots.
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0usize);
    let bytes = module_address.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'[' if !quoted => depth += 1,
            b']' if !quoted => depth = depth.saturating_sub(1),
            b'.' if !quoted && depth == 0 => {
                parts.push(&module_address[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&module_address[start..]);
    let mut paths = Vec::new();
    let mut prefix = String::new();
    for pair in parts.chunks(2) {
        let [keyword, name] = pair else { break };
        let base = name.split('[').next().unwrap_or(name);
        if base != *name {
            paths.push(format!("{prefix}{keyword}.{base}"));
        }
        prefix.push_str(&format!("{keyword}.{name}"));
        paths.push(prefix.clone());
        prefix.push('.');
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::{matches, module_paths};

    #[test]
    fn module_paths_cover_every_enclosing_module() {
        assert_eq!(module_paths("module.db"), ["module.db"]);
        assert_eq!(
            module_paths("module.db.module.db_instance"),
            ["module.db", "module.db.module.db_instance"]
        );
        assert_eq!(
            module_paths(r#"module.a["x.y"].module.b[0]"#),
            [
                "module.a",
                r#"module.a["x.y"]"#,
                r#"module.a["x.y"].module.b"#,
                r#"module.a["x.y"].module.b[0]"#
            ]
        );
    }

    #[test]
    fn globs_on_addresses() {
        assert!(matches("module.db.*", "module.db.aws_db_instance.main"));
        assert!(matches("module.db.*", "module.db.module.inner.aws_x.y[0]"));
        assert!(!matches("module.db.*", "module.dbx.aws_x.y"));
        assert!(matches("aws_instance.web[0]", "aws_instance.web[0]"));
        assert!(!matches("aws_instance.web[0]", "aws_instance.web[1]"));
        assert!(matches("aws_instance.web[?]", "aws_instance.web[1]"));
        assert!(matches("*.main", "aws_db_instance.main"));
        assert!(matches(r#"module.x["a"].*"#, r#"module.x["a"].aws_x.y"#));
        assert!(!matches("terraform_data.a", "terraform_data.ab"));
    }
}
