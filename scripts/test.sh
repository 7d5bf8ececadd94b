#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the pinned real tools
# (Terraform, kubectl) into .tools/, then runs every unit and integration
# test against them.
#
#   scripts/test.sh            # everything
#   scripts/test.sh plan       # only tests whose name matches "plan"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-tools.sh
export PATH="$PWD/.tools/bin:$PATH"
cargo test --workspace --locked -- "$@"
