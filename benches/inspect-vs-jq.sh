#!/usr/bin/env bash
# Measures `strata inspect` against jq on the same ~100 MB plan, in one run:
# wall time and peak memory of each, and the ratio. Results go to stdout as
# a Markdown table (paste into docs/performance.md).
#
#   benches/inspect-vs-jq.sh [SIZE_MB] [RUNS]
#
# The plan is synthetic, grown by scripts/gen-large-plan.py from a real
# Terraform plan of benches/plan-template (real Terraform from
# scripts/setup-tools.sh). jq does the equivalent classification: count the
# resource changes per action.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size=${1:-100}
runs=${2:-5}

scripts/setup-tools.sh
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A real plan from the real Terraform.
cp benches/plan-template/main.tf "$work/"
tf="$PWD/.tools/bin/terraform"
(cd "$work" && TF_CLI_CONFIG_FILE=/dev/null "$tf" init -input=false >/dev/null \
  && TF_CLI_CONFIG_FILE=/dev/null "$tf" plan -input=false -out=tfplan >/dev/null \
  && TF_CLI_CONFIG_FILE=/dev/null "$tf" show -json tfplan >real.json)
python3 scripts/gen-large-plan.py "$work/real.json" "$size" -o "$work/large.json"
bytes=$(stat -c %s "$work/large.json")

# Best-of-N wall time and the peak RSS of that run, via GNU time.
measure() {
  local best_time="" best_rss=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
      # inspect exits 2 when the plan has changes; anything else is a failure.
      [ $? -eq 2 ] || { cat "$work/stderr" >&2; exit 1; }
    }
    read -r t rss < <(tail -n 1 "$work/time")
    if [ -z "$best_time" ] || awk "BEGIN{exit !($t < $best_time)}"; then
      best_time=$t best_rss=$rss
    fi
  done
  echo "$best_time $best_rss"
}

read -r s_time s_rss < <(measure target/release/strata inspect "$work/large.json" --format json -q)
read -r j_time j_rss < <(measure jq '[.resource_changes[] | .change.actions | join("+")] | group_by(.) | map({(.[0]): length}) | add' "$work/large.json")

mb=$(awk "BEGIN{printf \"%.1f\", $bytes/1000000}")
echo
echo "Plan JSON: $mb MB ($bytes bytes), best of $runs runs each."
echo
echo "| tool | wall time | throughput | peak RSS |"
echo "|---|---|---|---|"
awk -v t="$s_time" -v r="$s_rss" -v b="$bytes" 'BEGIN{printf "| strata inspect | %.2f s | %.0f MB/s | %.1f MB |\n", t, b/1e6/(t>0?t:0.01), r/1024}'
awk -v t="$j_time" -v r="$j_rss" -v b="$bytes" 'BEGIN{printf "| jq | %.2f s | %.0f MB/s | %.1f MB |\n", t, b/1e6/t, r/1024}'
awk -v s="$s_time" -v j="$j_time" -v sr="$s_rss" -v b="$bytes" 'BEGIN{printf "\nstrata is %.1fx faster than jq; its peak memory is %.1f%% of the file size.\n", j/(s>0?s:0.01), sr*1024/b*100}'
