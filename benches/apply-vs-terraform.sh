#!/usr/bin/env bash
# Measures `strata apply` against doing the same by hand with the terraform
# CLI, in one run, on the example repository (three stacks: network, then
# database and edge): wall time, best of RUNS, as a Markdown table (paste
# into docs/performance.md).
#
#   benches/apply-vs-terraform.sh [RUNS]
#
# "By hand" is what a careful person or a CI script does per stack, in
# dependency order, one after the other:
#   terraform init; terraform plan -out=tfplan; terraform apply tfplan; terraform output -json
# strata does that plus the gate, run records and hashes, plans database and
# edge in parallel, and plans them again after network is applied (their
# inputs changed), so that one apply converges.
#
# Two cases: the first apply of an empty state (everything is created), and
# an apply with nothing to do (strata plans every stack and stops; by hand:
# init and plan per stack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
runs=${1:-3}

scripts/setup-tools.sh
cargo build --release --quiet
strata="$PWD/target/release/strata"
tf="$PWD/.tools/bin/terraform"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 TF_INPUT=0
export PATH="$PWD/.tools/bin:$PATH"

fresh_repo() {
  rm -rf "$work/repo" "$work/state" "$work/hand"
  cp -r modules-example "$work/repo"
  git -C "$work/repo" init -q -b main
  git -C "$work/repo" add -A
  git -C "$work/repo" -c user.name=bench -c user.email=bench@strata.dev commit -qm example
  cp -r modules-example "$work/hand"
}

by_hand() { # apply|plan
  local dir
  for stack in network database edge; do
    dir="$work/hand/infra/$stack"
    args=()
    case $stack in
      network) args=(-var region=eu-west-1 -var cidr=10.40.0.0/16) ;;
      database) args=(-var-file=prod.tfvars) ;;
    esac
    (cd "$dir" && "$tf" init -input=false >/dev/null)
    if [ "$1" = apply ]; then
      (cd "$dir" && "$tf" plan -input=false -out=tfplan "${args[@]}" >/dev/null \
        && "$tf" apply -input=false tfplan >/dev/null && "$tf" output -json >/dev/null)
    else
      (cd "$dir" && "$tf" plan -input=false -detailed-exitcode "${args[@]}" >/dev/null)
    fi
  done
}

with_strata() {
  STRATA_STATE_DIR="$work/state" "$strata" apply --repo "$work/repo" --auto-approve -q >/dev/null
}


declare -a s_first t_first s_noop t_noop
for _ in $(seq "$runs"); do
  fresh_repo
  s_first+=("$(seconds with_strata)")
  s_noop+=("$(seconds with_strata)")
  t_first+=("$(seconds by_hand apply)")
  t_noop+=("$(seconds by_hand plan)")
done
# The by-hand apply must have converged like strata: a second plan of every
# stack has no changes (plan -detailed-exitcode would have failed above).

sf=$(best "${s_first[@]}"); tfirst=$(best "${t_first[@]}")
sn=$(best "${s_noop[@]}"); tn=$(best "${t_noop[@]}")
echo "| case | strata apply | terraform by hand | ratio |"
echo "|---|---|---|---|"
awk -v a="$sf" -v b="$tfirst" 'BEGIN{printf "| first apply (3 stacks, 5 creates) | %.2f s | %.2f s | %.2f× |\n", a, b, b/a}'
awk -v a="$sn" -v b="$tn" 'BEGIN{printf "| nothing to do | %.2f s | %.2f s | %.2f× |\n", a, b, b/a}'
