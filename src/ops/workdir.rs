//! Where Terraform runs for each stack: its [`Workdir`].

use std::path::Path;

use crate::config::Stack;
use crate::terraform::Workdir;

/// Where Terraform runs for `stack` of `stacks` in the tree at `root`:
/// alone in its directory, as Terraform does by default; sharing it with
/// other stacks (one module, several environments), with a data
/// directory of its own (`.terraform-<name>`), its workspace (see
/// [`Stack::workspace_in`]) and its backend configuration.
pub(crate) fn workdir(root: &Path, stacks: &[Stack], stack: &Stack) -> Workdir {
    let mut wd = Workdir::plain(&root.join(&stack.path));
    let shared = stack.shares_path(stacks);
    if shared {
        wd.data = wd.dir.join(format!(".terraform-{}", stack.name));
        wd.shared = true;
    }
    let local_state = shared && crate::terraform::init::Requirements::read(&wd.dir).local_state();
    wd.workspace = stack.workspace_in(shared, local_state);
    wd.backend_args = stack.backend_args();
    wd
}
