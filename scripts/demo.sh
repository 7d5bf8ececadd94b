#!/usr/bin/env bash
# The whole pipeline on modules-example, start to finish:
#
#   1. install the pinned Terraform and kubectl (scripts/setup-tools.sh) and
#      build strata and kube-sim (both only when not done yet);
#   2. start kube-sim as the cluster, unless KUBECONFIG names one;
#   3. strata plan: three stacks and a workload, exit 2 (changes);
#   4. strata apply: the gate stops for the protected database. On a
#      terminal you answer the prompt; without one (CI) the run is saved,
#      exit 3, and the script approves and applies it by run id, as a
#      person would later;
#   5. show what converged in the cluster;
#   6. strata drift: in sync, exit 0;
#   7. scale the Deployment by hand, outside Git;
#   8. strata drift: drift, exit 2, in Markdown with the coloured graph.
#
#   scripts/demo.sh                 # interactive on a terminal, else unattended
#   KUBECONFIG=~/.kube/config scripts/demo.sh   # a real cluster instead
#
# State (Terraform state, runs) goes to a fresh temporary directory, so the
# demo starts from nothing each time; set STRATA_STATE_DIR to keep it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fail() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }
# Runs strata, prints its output, and checks its exit code.
expect() {
  local want=$1; shift
  local code=0
  printf '$ strata %s\n' "$*"
  "$strata" "$@" || code=$?
  [ "$code" -eq "$want" ] || fail "strata $* exited $code, expected $want"
}

scripts/setup-tools.sh
export PATH="$root/.tools/bin:$PATH"
step "Building strata and kube-sim (once; later runs only check)"
cargo build --workspace --locked
strata="$root/target/debug/strata"

work=$(mktemp -d)
sim=""
cleanup() {
  [ -z "$sim" ] || kill "$sim" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export STRATA_STATE_DIR="${STRATA_STATE_DIR:-$work/state}"

if [ -n "${KUBECONFIG:-}" ]; then
  step "Using the cluster of KUBECONFIG=$KUBECONFIG"
  kubeconfig=$KUBECONFIG
else
  step "Starting kube-sim, a local Kubernetes API server"
  kubeconfig="$work/kubeconfig"
  target/debug/kube-sim serve --kubeconfig "$kubeconfig" >"$work/kube-sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 50); do [ -s "$kubeconfig" ] && break; sleep 0.1; done
  [ -s "$kubeconfig" ] || fail "kube-sim did not start: $(cat "$work/kube-sim.log")"
fi
flags=(--repo modules-example --kubeconfig "$kubeconfig")

step "Plan both layers (exit 2: there are changes)"
expect 2 plan "${flags[@]}"

step "Apply: the gate stops for the protected database"
if [ -t 0 ] && [ -t 1 ]; then
  echo "Answer 'yes' to apply (anything else refuses, and nothing changes)."
  expect 0 apply "${flags[@]}"
else
  code=0
  "$strata" apply "${flags[@]}" --format json --out "$work/apply.json" || code=$?
  [ "$code" -eq 3 ] || fail "apply without a terminal exited $code, expected 3 (approval required)"
  run=$(sed -n 's/^  "run_id": "\(.*\)",$/\1/p' "$work/apply.json")
  [ -n "$run" ] || fail "no run id in $work/apply.json"
  echo "No terminal to ask at: run $run is saved, pending approval. Approving it as a person would:"
  expect 0 approve "$run"
  expect 0 apply --run "$run" --kubeconfig "$kubeconfig"
fi

step "What converged in the cluster"
kubectl --kubeconfig "$kubeconfig" get namespace apps
kubectl --kubeconfig "$kubeconfig" -n apps get deployments,services,configmaps,secrets,widgets

step "Nightly drift check: in sync (exit 0)"
expect 0 drift "${flags[@]}"

step "Someone scales the Deployment by hand, outside Git"
kubectl --kubeconfig "$kubeconfig" -n apps scale deployment web --replicas=3

step "Nightly drift check: drift (exit 2), as Markdown for an issue"
expect 2 drift "${flags[@]}" --format markdown

step "Done: strata apply would put the Deployment back at 2 replicas"
