#!/usr/bin/env bash
# Runs the fault tests (tests/fault: kill -9 cycles, a full and a
# read-only disk, hostile watchers, a connection flood, SIGSTOP) longer
# and larger than the test suite does, then prints a table of what each
# run measured (its FAULT-RESULT lines).
#
#   scripts/fault-soak.sh [SCALE] [ROUNDS]
#
# SCALE (default 5) multiplies each test's cycles, load or duration
# (MUSTER_FAULT_SCALE); ROUNDS (default 1) repeats the whole set. Exits
# non-zero when any run failed. The disk cases need root (they mount a
# tmpfs); without it they say so and pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scale="${1:-5}"
rounds="${2:-1}"
build="${MUSTER_BUILD_DIR:-build}"
faults=(kill9 disk watchers flood stall)

scripts/setup-deps.sh
cmake -S . -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=ON >/dev/null
targets=(musterd)
for fault in "${faults[@]}"; do targets+=("fault_${fault}_tests"); done
ninja -C "${build}" -j"$(nproc)" "${targets[@]}"

log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
failed=0
declare -A outcome
for ((round = 1; round <= rounds; ++round)); do
  for fault in "${faults[@]}"; do
    echo "== round ${round}/${rounds}: ${fault} (scale ${scale})"
    start=${SECONDS}
    if MUSTER_FAULT_SCALE="${scale}" \
      "${build}/tests/fault/fault_${fault}_tests" | tee -a "${log}"; then
      outcome["${round}/${fault}"]="passed in $((SECONDS - start)) s"
    else
      outcome["${round}/${fault}"]="FAILED after $((SECONDS - start)) s"
      failed=1
    fi
  done
done

echo
echo "| round | fault | outcome |"
echo "|---|---|---|"
for ((round = 1; round <= rounds; ++round)); do
  for fault in "${faults[@]}"; do
    echo "| ${round} | ${fault} | ${outcome["${round}/${fault}"]} |"
  done
done
echo
echo "| run | measured |"
echo "|---|---|"
grep '^FAULT-RESULT ' "${log}" | while read -r _ name rest; do
  echo "| ${name} | ${rest} |"
done
exit "${failed}"
