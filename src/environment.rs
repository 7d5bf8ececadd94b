//! The process environment, captured once at the edge (`main`) and passed
//! down, so that nothing deep in the library reads global state.

use std::ffi::{OsStr, OsString};

/// The process environment, captured once at the edge and passed down, so
/// nothing deep in the library reads global state.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: Vec<(OsString, OsString)>,
}

impl Environment {
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }
}
