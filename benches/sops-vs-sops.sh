#!/usr/bin/env bash
# Measures what decrypting SOPS files costs strata, against the real sops
# decrypting the same files, in one run: wall time, best of RUNS, as a
# Markdown table (paste into docs/performance.md).
#
#   benches/sops-vs-sops.sh [RUNS] [FILES]
#
# A workload of FILES (default 200) Secrets, each encrypted by the real
# sops 3.11.0 for Flux's test age key (tests/fixtures/sops), as a
# repository keeps them.
#   strata:  `strata validate` (loads, decrypts and checks every manifest,
#            no cluster) on the encrypted workload, minus the same on the
#            same Secrets in the clear: the cost of decrypting and checking
#            the MACs.
#   sops:    `sops decrypt` of each file, one after the other, as a CI
#            script or a kustomize plugin would run it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
runs=${1:-3}
files=${2:-200}

scripts/setup-tools.sh >/dev/null
cargo build --release --quiet --bin strata
strata="$PWD/target/release/strata"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$PWD/.tools/bin:$PATH"
export SOPS_AGE_KEY_FILE="$PWD/tests/fixtures/sops/flux/age.txt"
recipient=age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29

make_repo() { # DIR encrypted|clear
  local dir=$1 i
  mkdir -p "$dir/k8s/secrets"
  printf 'workload "secrets" {\n  path      = "k8s/secrets"\n  namespace = "apps"\n}\n' >"$dir/strata.hcl"
  for i in $(seq -w 1 "$files"); do
    cat >"$work/plain.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: secret-$i
stringData:
  username: user-$i
  password: password-$i-never-print
  url: postgres://user-$i@db-$i.example.com:5432/app
EOF
    if [ "$2" = encrypted ]; then
      sops encrypt --age "$recipient" --encrypted-regex '^(data|stringData)$' \
        "$work/plain.yaml" >"$dir/k8s/secrets/secret-$i.yaml"
    else
      cp "$work/plain.yaml" "$dir/k8s/secrets/secret-$i.yaml"
    fi
  done
  git -C "$dir" init -q -b main
  git -C "$dir" add -A
  git -C "$dir" -c user.name=bench -c user.email=bench@strata.dev commit -qm secrets
}
make_repo "$work/encrypted" encrypted
make_repo "$work/clear" clear

validate() { # repo
  STRATA_STATE_DIR="$work/state-$(basename "$1")" "$strata" validate --repo "$1" -q >/dev/null
}

sops_loop() {
  local f
  for f in "$work"/encrypted/k8s/secrets/*.yaml; do
    sops decrypt "$f" >/dev/null
  done
}

declare -a s_enc s_clear t_sops
for _ in $(seq "$runs"); do
  s_enc+=("$(seconds validate "$work/encrypted")")
  s_clear+=("$(seconds validate "$work/clear")")
  t_sops+=("$(seconds sops_loop)")
done
se=$(best "${s_enc[@]}"); sc=$(best "${s_clear[@]}"); ts=$(best "${t_sops[@]}")
echo "| $files SOPS-encrypted Secrets | time |"
echo "|---|---|"
awk -v a="$sc" 'BEGIN{printf "| strata validate, the Secrets in the clear | %.2f s |\n", a}'
awk -v a="$se" 'BEGIN{printf "| strata validate, encrypted | %.2f s |\n", a}'
awk -v a="$se" -v b="$sc" 'BEGIN{printf "| **strata: decrypting and checking the MACs** | **%.2f s** |\n", a-b}'
awk -v a="$ts" 'BEGIN{printf "| **sops decrypt, file by file** | **%.2f s** |\n", a}'
awk -v a="$se" -v b="$sc" -v c="$ts" 'BEGIN{printf "| strata / sops | %.3f× |\n", (a-b)/c}'
