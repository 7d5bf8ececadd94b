//! `approval.protect` patterns: `*` matches any run of characters (dots and
//! brackets included), `?` one character; everything else is literal, so
//! instance keys such as `aws_instance.web[0]` or `module.x["a"]` need no
//! escaping.
//!
//! A pattern protects an address when it matches the resource address, its
//! module path (`module.db` protects everything inside `module.db`), or the
//! address it was moved from.

use wildmatch::WildMatch;

/// Whether `pattern` matches `address` as a whole.
pub fn matches(pattern: &str, address: &str) -> bool {
    WildMatch::new(pattern).matches(address)
}

#[cfg(test)]
mod tests {
    use super::matches;

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
