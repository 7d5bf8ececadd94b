//! `strata completion`

use clap::CommandFactory;

use super::{Cli, CliError, Context, exit};

/// Print a shell completion script (bash, zsh, fish, elvish, powershell)
///
/// Completes commands, flags and their fixed values. Load it as kubectl's:
///
///   source <(strata completion bash)              # bash, this shell
///   strata completion bash > /etc/bash_completion.d/strata
///   strata completion zsh > "${fpath[1]}/_strata"  # zsh
///   strata completion fish > ~/.config/fish/completions/strata.fish
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn exec(args: &Args, ctx: &Context) -> Result<u8, CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "strata", &mut script);
    ctx.emit(|_| String::from_utf8_lossy(&script).into_owned())?;
    Ok(exit::OK)
}
