#!/usr/bin/env bash
# Measures `strata plan` over many small stacks against a terraform loop, in
# one run: wall time, best of RUNS, as a Markdown table (paste into
# docs/performance.md).
#
#   benches/plan-vs-terraform.sh [RUNS] [STACKS]
#
# The repository has STACKS (default 24) independent stacks of 3 resources
# each. Two cases:
#   cold:     a fresh clone, nothing initialized. strata plans everything
#             into a fresh state directory; the loop is the one a CI script
#             runs: `terraform init && terraform plan` per stack, one after
#             the other.
#   no-op:    everything applied, nothing to do. strata plans again; the loop
#             is bare `terraform plan` per stack (already initialized).
#   one:      everything applied, then a commit changes one stack. strata
#             runs `plan --changed`; the peer is that stack's own
#             `terraform plan` (the least anyone can run).
# Both tools are started the same way and read the same files; the loop uses
# `-detailed-exitcode` so that a plan with changes in the no-op case fails it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
runs=${1:-3}
stacks=${2:-24}

scripts/setup-tools.sh >/dev/null
cargo build --release --quiet --bin strata
strata="$PWD/target/release/strata"
tf="$PWD/.tools/bin/terraform"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 TF_INPUT=0
export PATH="$PWD/.tools/bin:$PATH"

make_tree() { # DIR: the repository's files
  local dir=$1 i
  mkdir -p "$dir"
  : >"$dir/strata.hcl"
  for i in $(seq -w 1 "$stacks"); do
    mkdir -p "$dir/stacks/s$i"
    cat >"$dir/stacks/s$i/main.tf" <<EOF
resource "terraform_data" "a" { input = "s$i-a" }
resource "terraform_data" "b" { input = "s$i-b" }
resource "terraform_data" "c" { input = terraform_data.a.output }
output "c" { value = terraform_data.c.output }
EOF
    printf 'stack "s%s" { path = "stacks/s%s" }\n' "$i" "$i" >>"$dir/strata.hcl"
  done
}

fresh() {
  rm -rf "$work/repo" "$work/state" "$work/hand"
  make_tree "$work/repo"
  git -C "$work/repo" init -q -b main
  git -C "$work/repo" add -A
  git -C "$work/repo" -c user.name=bench -c user.email=bench@strata.dev commit -qm stacks
  make_tree "$work/hand"
}

loop() { # init-and-plan|plan
  local dir
  for dir in "$work"/hand/stacks/*; do
    if [ "$1" = init-and-plan ]; then
      (cd "$dir" && "$tf" init -input=false >/dev/null && "$tf" plan -input=false >/dev/null)
    else
      (cd "$dir" && "$tf" plan -input=false -detailed-exitcode >/dev/null)
    fi
  done
}

apply_by_hand() {
  local dir
  for dir in "$work"/hand/stacks/*; do
    (cd "$dir" && "$tf" apply -input=false -auto-approve >/dev/null)
  done
}

strata_plan() { # expected exit code
  local code=0
  STRATA_STATE_DIR="$work/state" "$strata" plan --repo "$work/repo" -q >/dev/null || code=$?
  [ "$code" = "$1" ] || { echo "strata plan exited $code, expected $1" >&2; exit 1; }
}

strata_changed() { # expected exit code
  local code=0
  STRATA_STATE_DIR="$work/state" "$strata" plan --changed --repo "$work/repo" -q >/dev/null || code=$?
  [ "$code" = "$1" ] || { echo "strata plan --changed exited $code, expected $1" >&2; exit 1; }
}

change_one() { # the same edit in the repository (committed) and by hand
  local dir
  for dir in "$work/repo" "$work/hand"; do
    sed -i 's/"s01-b"/"s01-b2"/' "$dir/stacks/s01/main.tf"
  done
  git -C "$work/repo" -c user.name=bench -c user.email=bench@strata.dev commit -qam "s01 b2"
}

one_plan() {
  local code=0
  (cd "$work/hand/stacks/s01" && "$tf" plan -input=false -detailed-exitcode >/dev/null) || code=$?
  [ "$code" = 2 ] || { echo "terraform plan exited $code, expected 2" >&2; exit 1; }
}

strata_apply() {
  STRATA_STATE_DIR="$work/state" "$strata" apply --repo "$work/repo" --auto-approve -q >/dev/null
}


declare -a s_cold t_cold s_noop t_noop s_one t_one
for _ in $(seq "$runs"); do
  fresh
  s_cold+=("$(seconds strata_plan 2)")
  t_cold+=("$(seconds loop init-and-plan)")
  strata_apply
  apply_by_hand
  s_noop+=("$(seconds strata_plan 0)")
  t_noop+=("$(seconds loop plan)")
  change_one
  s_one+=("$(seconds strata_changed 2)")
  t_one+=("$(seconds one_plan)")
done

sc=$(best "${s_cold[@]}"); tc=$(best "${t_cold[@]}")
sn=$(best "${s_noop[@]}"); tn=$(best "${t_noop[@]}")
so=$(best "${s_one[@]}"); to=$(best "${t_one[@]}")
echo "| case ($stacks stacks of 3 resources) | strata plan | terraform loop | strata / loop |"
echo "|---|---|---|---|"
awk -v a="$sc" -v b="$tc" 'BEGIN{printf "| cold (loop: init && plan) | %.2f s | %.2f s | %.2f× |\n", a, b, a/b}'
awk -v a="$sn" -v b="$tn" 'BEGIN{printf "| nothing to do (loop: plan) | %.2f s | %.2f s | %.2f× |\n", a, b, a/b}'
awk -v a="$so" -v b="$to" 'BEGIN{printf "| one stack changed (strata: plan --changed; peer: that stack'"'"'s terraform plan) | %.2f s | %.2f s | %.2f× |\n", a, b, a/b}'
