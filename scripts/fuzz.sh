#!/usr/bin/env bash
# Fuzzes strata's readers of untrusted input for a bounded time each, with
# cargo-fuzz (libFuzzer) on the nightly toolchain:
#
#   plan_json   the plan JSON scanner, differentially against serde_json
#   strata_hcl  the strata.hcl parser
#   manifests   the YAML and JSON manifest loader
#
#   scripts/fuzz.sh             # every target, 60 s each
#   scripts/fuzz.sh 300         # 300 s each
#   scripts/fuzz.sh 60 plan_json
#
# Seeds come from the repository's own fixtures (real Terraform plans, real
# manifests, the example's strata.hcl); what libFuzzer learns stays in
# fuzz/corpus/ (not committed). A crash is saved under fuzz/artifacts/ and
# this script exits 1: turn it into a regression test in tests/ (and keep
# the input in tests/fixtures/corpus/ or the unit tests), then fix it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(plan_json strata_hcl manifests)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

seed() {
    local target="$1" dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    case "$target" in
        plan_json)
            find tests/fixtures/plan-json -name '*.json' -size -200k -exec cp {} "$dir/" \; ;;
        strata_hcl)
            cp modules-example/strata.hcl "$dir/modules-example.hcl"
            cp deploy/strata.hcl "$dir/deploy.hcl" 2>/dev/null || true ;;
        manifests)
            find tests/fixtures/manifests modules-example -name '*.yaml' -size -100k |
                while read -r f; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
    esac
}

status=0
for target in "${targets[@]}"; do
    seed "$target"
    echo "fuzz.sh: $target for ${seconds}s" >&2
    # No sanitizer: strata forbids unsafe code; what is looked for is
    # panics, hangs and disagreements, which libFuzzer catches as they are.
    if ! cargo +nightly fuzz run --sanitizer none "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536; then
        echo "fuzz.sh: $target found a failure; the input is under fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit "$status"
