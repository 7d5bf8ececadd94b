//! `strata init`: discover the conventional layout of a local checkout and
//! write a `strata.hcl` describing it. The one command that writes into the
//! user's repository, and only that one file.

use std::path::PathBuf;

use super::Error;
use crate::config::{self, Config};

#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The repository's working tree.
    pub dir: PathBuf,
    /// Overwrite an existing strata.hcl.
    pub force: bool,
}

/// What was written where.
#[derive(Debug)]
pub struct Initialized {
    pub path: PathBuf,
    pub config: Config,
}

/// # Errors
/// An existing strata.hcl (without `force`), nothing discoverable, or an
/// I/O failure.
pub fn init(opts: &InitOptions) -> Result<Initialized, Error> {
    let path = opts.dir.join(config::FILE_NAME);
    if path.exists() && !opts.force {
        return Err(Error::Invalid {
            path,
            message: "already exists; edit it, or pass --force to replace it with a discovered one"
                .to_owned(),
        });
    }
    let config = config::discover(&opts.dir)?;
    let text = config::render(&config);
    std::fs::write(&path, text).map_err(|source| Error::Io {
        what: "cannot write",
        path: path.clone(),
        source,
    })?;
    Ok(Initialized { path, config })
}
