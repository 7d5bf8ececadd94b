//! `strata inspect FILE`: classify an existing plan, either the JSON of
//! `terraform show -json` or a binary plan file (which Terraform itself
//! turns into JSON first).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Environment, Error};
use crate::interrupt::Interrupt;
use crate::report::{Report, StackReport};
use crate::terraform::plan as tfplan;
use crate::terraform::{Locate, Terraform};

#[derive(Debug, Clone)]
pub struct InspectOptions {
    pub file: PathBuf,
    pub env: Environment,
    pub cwd: PathBuf,
}

/// Binary plan files are zip archives.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// # Errors
/// A missing or unreadable file, invalid plan JSON, or (for binary plan
/// files) a Terraform failure.
pub async fn inspect(opts: &InspectOptions, interrupt: &Interrupt) -> Result<Report, Error> {
    let file = opts.cwd.join(&opts.file);
    let io = |what, source| Error::Io {
        what,
        path: opts.file.clone(),
        source,
    };
    let mut head = [0u8; 4];
    let n = std::fs::File::open(&file)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| io("cannot read", e))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let display = opts.file.display().to_string();

    let plan = if &head[..n] == ZIP_MAGIC {
        let json = tempfile::NamedTempFile::new()
            .map_err(|e| io("cannot create a temporary file for", e))?;
        let dir = file.parent().unwrap_or(Path::new("/")).to_owned();
        let terraform = locate(opts, interrupt).await?;
        terraform
            .show_json(
                &crate::terraform::Workdir::plain(&dir),
                &file,
                json.path(),
                interrupt,
            )
            .await?;
        let path = json.path().to_owned();
        parse(path, &opts.file).await?
    } else {
        parse(file.clone(), &opts.file).await?
    };
    Ok(Report::new(
        "inspect",
        None,
        vec![StackReport::from_plan(&name, &display, &plan)],
    ))
}

async fn parse(path: PathBuf, display: &Path) -> Result<tfplan::Plan, Error> {
    let shown = path.clone();
    let shown_for_error = display.to_owned();
    tokio::task::spawn_blocking(move || tfplan::parse_file(&path))
        .await
        .map_err(|e| Error::Io {
            what: "cannot parse",
            path: shown,
            source: std::io::Error::other(e),
        })?
        .map_err(|error| Error::PlanFile {
            path: shown_for_error,
            error,
        })
}

/// Binary plans need Terraform; there is no strata.hcl here, so only
/// `STRATA_TERRAFORM` and PATH are consulted.
async fn locate(opts: &InspectOptions, interrupt: &Interrupt) -> Result<Terraform, Error> {
    let how = Locate {
        configured: None,
        env_override: opts.env.get("STRATA_TERRAFORM").map(ToOwned::to_owned),
        path: opts.env.get("PATH").map(ToOwned::to_owned),
        cwd: opts.cwd.clone(),
        version_cache: None,
    };
    // `show` needs no plugin cache; keep the user's environment as it is
    // apart from what strata always controls.
    let env = crate::terraform::runner::child_env(
        &opts.env.vars,
        &std::env::temp_dir(),
        Path::new("/dev/null"),
    );
    Ok(Terraform::locate(&how, env, "0s", interrupt).await?)
}
