# Shared by the benchmark scripts: `source benches/lib.sh`.

seconds() { # command...: prints the wall time of one run
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  awk "BEGIN{printf \"%.2f\", $end - $start}"
}

best() { # a list of numbers: the smallest
  printf '%s\n' "$@" | sort -n | head -n 1
}
