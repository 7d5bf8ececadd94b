#!/usr/bin/env bash
# Measures what policies cost a `strata plan`, against OPA's own Go engine
# evaluating the same policies on the same input, in one run: wall time,
# best of RUNS, as a Markdown table (paste into docs/performance.md).
#
#   benches/policy-vs-opa.sh [RUNS] [RESOURCES]
#
# One stack creates RESOURCES (default 2000) resources. The policy folder
# has three rules over every resource change (an approve, a warn, a deny
# that finds nothing), as a platform team would write them.
#   strata:  `strata plan` with the policy block, minus the same plan
#            without it: the cost of building the input and evaluating.
#   OPA:     the `opa-eval` launcher (scripts/setup-tools.sh) on the input
#            strata kept (policy-input.json), minus the launcher on an empty
#            input: OPA's compile and evaluation, without Python's start.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
runs=${1:-3}
resources=${2:-2000}

scripts/setup-tools.sh >/dev/null
cargo build --release --quiet --bin strata
strata="$PWD/target/release/strata"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 TF_INPUT=0
export PATH="$PWD/.tools/bin:$PATH"

repo="$work/repo"
mkdir -p "$repo/infra/big" "$repo/policy"
cat >"$repo/infra/big/main.tf" <<EOF
resource "terraform_data" "role" {
  count = $resources
  input = "role-\${count.index}"
}
EOF
cat >"$repo/policy/main.rego" <<'EOF'
package main

approve contains {"msg": "roles change only with a person's approval", "stack": s.name, "address": rc.address} if {
    some s in input.stacks
    some rc in s.resource_changes
    startswith(rc.name, "role")
    rc.index < 10
}

warn contains sprintf("stack %s changes %d resources", [s.name, count(s.resource_changes)]) if {
    some s in input.stacks
    count(s.resource_changes) > 100
}

deny contains sprintf("%s deletes %s", [s.name, rc.address]) if {
    some s in input.stacks
    some rc in s.resource_changes
    "delete" in rc.change.actions
}
EOF
printf 'stack "big" {\n  path = "infra/big"\n}\n' >"$repo/strata.hcl"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@strata.dev commit -qm "without policies"
without=$(git -C "$repo" rev-parse HEAD)
printf '\npolicy "guardrails" {\n  path = "policy"\n}\n' >>"$repo/strata.hcl"
git -C "$repo" -c user.name=bench -c user.email=bench@strata.dev commit -qam "with policies"
with=$(git -C "$repo" rev-parse HEAD)

plan() { # commit
  local code=0
  STRATA_STATE_DIR="$work/state" "$strata" plan --repo "$repo" --ref "$1" -q --format json \
    --out "$work/report.json" || code=$?
  [ "$code" = 2 ] || { echo "strata plan exited $code, expected 2" >&2; exit 1; }
}

opa() { # request file
  opa-eval "$repo/policy/main.rego" <"$1" >"$work/opa.json"
}

declare -a s_without s_with o_input o_empty
for _ in $(seq "$runs"); do
  s_without+=("$(seconds plan "$without")")
  s_with+=("$(seconds plan "$with")")
done
run=$(sed -n 's/^  "run_id": "\(.*\)",$/\1/p' "$work/report.json")
input="$work/state/runs/$run/policy-input.json"
python3 -c 'import json,sys; print(json.dumps({"query": "data.main", "input": json.load(open(sys.argv[1])), "data": {}}))' "$input" >"$work/request.json"
echo '{"query": "data.main", "input": {}, "data": {}}' >"$work/empty.json"
for _ in $(seq "$runs"); do
  o_input+=("$(seconds opa "$work/request.json")")
  o_empty+=("$(seconds opa "$work/empty.json")")
done
# Both found the same: 10 approvals and one warning.
opa "$work/request.json" # the last run was on the empty input
python3 - "$work/report.json" "$work/opa.json" <<'EOF' >/dev/null
import json, sys
strata = json.load(open(sys.argv[1]))["policy"]
opa = json.load(open(sys.argv[2]))
assert sum(f["rule"] == "approve" for f in strata) == len(opa["approve"]) == 10, (strata, opa)
assert sum(f["rule"] == "warn" for f in strata) == len(opa["warn"]) == 1
EOF

sw=$(best "${s_with[@]}"); so=$(best "${s_without[@]}")
oi=$(best "${o_input[@]}"); oe=$(best "${o_empty[@]}")
size=$(stat -c %s "$input")
echo "| $resources resource changes (input $((size / 1024)) KiB) | time |"
echo "|---|---|"
awk -v a="$so" 'BEGIN{printf "| strata plan, no policies | %.2f s |\n", a}'
awk -v a="$sw" 'BEGIN{printf "| strata plan, with the policies | %.2f s |\n", a}'
awk -v a="$sw" -v b="$so" 'BEGIN{printf "| **strata: what the policies cost** | **%.2f s** |\n", a-b}'
awk -v a="$oi" 'BEGIN{printf "| opa-eval on the same input | %.2f s |\n", a}'
awk -v a="$oe" 'BEGIN{printf "| opa-eval on an empty input (start-up) | %.2f s |\n", a}'
awk -v a="$oi" -v b="$oe" 'BEGIN{printf "| **OPA: compile and evaluate** | **%.2f s** |\n", a-b}'
awk -v a="$sw" -v b="$so" -v c="$oi" -v d="$oe" 'BEGIN{printf "| strata / OPA | %.2f× |\n", (a-b)/(c-d)}'
