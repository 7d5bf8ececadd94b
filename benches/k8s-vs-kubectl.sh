#!/usr/bin/env bash
# Measures strata's Kubernetes layer against the real kubectl 1.37, in one
# run, on 1,000 generated objects: 10 namespaces, each with 50 ConfigMaps,
# 25 Services and 24 Deployments. Each tool converges into its own fresh
# kube-sim (release build); then both re-apply the converged set (nothing to
# do), and strata plans it. Wall time, best of RUNS, as a Markdown table
# (paste into docs/performance.md).
#
#   benches/k8s-vs-kubectl.sh [RUNS] [LATENCY]
#
# LATENCY (e.g. 2ms) is added by kube-sim to every request, as a real API
# server's round trip and etcd write would; default none.
#
# Peers:
#   strata apply (workload wait = false)   kubectl apply --server-side -f DIR -R
#   strata apply, nothing to do            kubectl apply --server-side again
#   strata plan, nothing to do             kubectl diff --server-side -f DIR -R
# strata also validates every object against discovery, diffs each one with
# a server-side dry run, records the inventory and the run; kubectl applies
# one object after the other.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
latency=${2:-}

scripts/setup-tools.sh
cargo build --release --quiet --bin strata -p strata
cargo build --release --quiet --bin kube-sim -p kube-sim
strata="$PWD/target/release/strata"
sim="$PWD/target/release/kube-sim"
kubectl="$PWD/.tools/bin/kubectl"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export PATH="$PWD/.tools/bin:$PATH"

# The repository: one file per namespace, the Namespace first.
repo="$work/repo"
mkdir -p "$repo/k8s/bench"
for n in $(seq 0 9); do
  f="$repo/k8s/bench/ns-$n.yaml"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-%s\n' "$n" >"$f"
  for i in $(seq 0 49); do
    printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%s\n  namespace: bench-%s\ndata:\n  index: "%s"\n  mode: bench\n' "$i" "$n" "$i" >>"$f"
  done
  for i in $(seq 0 24); do
    printf -- '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%s\n  namespace: bench-%s\nspec:\n  selector:\n    app: app-%s\n  ports:\n    - port: 80\n      targetPort: 8080\n' "$i" "$n" "$i" >>"$f"
  done
  for i in $(seq 0 23); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%s\n  namespace: bench-%s\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-%s\n  template:\n    metadata:\n      labels:\n        app: app-%s\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/stefanprodan/podinfo:6.7.1\n          ports:\n            - containerPort: 8080\n' "$i" "$n" "$i" "$i" >>"$f"
  done
done
cat >"$repo/strata.hcl" <<'EOF'
workload "bench" {
  path = "k8s/bench"
  wait = false
}
EOF
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@strata.dev commit -qm bench
objects=$(grep -c '^kind:' "$repo"/k8s/bench/*.yaml | awk -F: '{s+=$2} END {print s}')

start_sim() { # name; sets kc (its kubeconfig) and sim_pid
  kc="$work/$1.kubeconfig"
  rm -f "$kc"
  local faults=()
  [ -n "$latency" ] && faults=(--faults "latency=$latency")
  "$sim" serve --kubeconfig "$kc" --ready-after 0s "${faults[@]}" >"$work/$1.log" 2>&1 &
  sim_pid=$!
  pids+=("$sim_pid")
  for _ in $(seq 100); do [ -s "$kc" ] && break; sleep 0.05; done
}

ms() { # command... -> milliseconds (the command must succeed, or exit 0/2)
  local s e rc
  s=$(date +%s%N)
  set +e
  "$@" >/dev/null 2>"$work/last.err"
  rc=$?
  set -e
  e=$(date +%s%N)
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "failed ($rc): $*" >&2
    cat "$work/last.err" >&2
    exit 1
  fi
  echo $(((e - s) / 1000000))
}

best() { sort -n | head -1; }

declare -A t
for r in $(seq "$runs"); do
  start_sim "strata-$r"
  state="$work/state-$r"
  t[strata_apply]+="$(ms "$strata" apply --repo "$repo" --state-dir "$state" --kubeconfig "$kc")"$'\n'
  t[strata_again]+="$(ms "$strata" apply --repo "$repo" --state-dir "$state" --kubeconfig "$kc")"$'\n'
  t[strata_plan]+="$(ms "$strata" plan --repo "$repo" --state-dir "$state" --kubeconfig "$kc")"$'\n'
  kill "$sim_pid"
  start_sim "kubectl-$r"
  t[kubectl_apply]+="$(ms "$kubectl" --kubeconfig "$kc" apply --server-side -R -f "$repo/k8s/bench")"$'\n'
  t[kubectl_again]+="$(ms "$kubectl" --kubeconfig "$kc" apply --server-side -R -f "$repo/k8s/bench")"$'\n'
  t[kubectl_diff]+="$(ms "$kubectl" --kubeconfig "$kc" diff --server-side -R -f "$repo/k8s/bench")"$'\n'
  kill "$sim_pid"
done

row() { # label strata-key kubectl-key
  local s k
  s=$(printf '%s' "${t[$2]}" | best)
  k=$(printf '%s' "${t[$3]}" | best)
  printf '| %s | %.2f s | %.2f s | %.1f× |\n' "$1" "$(echo "$s/1000" | bc -l)" "$(echo "$k/1000" | bc -l)" "$(echo "$k/$s" | bc -l)"
}

echo "$objects objects, best of $runs runs, request latency ${latency:-none} ($(date -u +%Y-%m-%d))"
echo
echo "| case | strata | kubectl | kubectl / strata |"
echo "|---|---|---|---|"
row "converge into an empty cluster" strata_apply kubectl_apply
row "apply again, nothing to do" strata_again kubectl_again
row "plan / diff, nothing to do" strata_plan kubectl_diff
