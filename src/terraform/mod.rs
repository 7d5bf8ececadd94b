//! The Terraform layer: running the binary ([`runner`]) and understanding
//! the plans it writes ([`plan`]).

pub mod init;
pub mod plan;
pub mod runner;

pub use runner::{Locate, PlanExit, Terraform, TerraformError, Workdir};
