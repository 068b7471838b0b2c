#!/usr/bin/env bash
# Builds musterd and muster-bench and runs the full benchmark suite.
# Extra arguments go to muster-bench, e.g. `bench/run.sh --quick` or
# `bench/run.sh --scenarios lookup,register --duration 10`.
# Writes bench-results.json in the current directory and prints the table.
# MUSTER_BUILD_DIR picks the build dir (default: build/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MUSTER_BUILD_DIR:-${root}/build}"

if [[ ! -f "${build}/build.ninja" ]]; then
  cmake -S "${root}" -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
ninja -C "${build}" musterd muster-bench

"${build}/bench/muster-bench" --musterd "${build}/daemon/musterd" \
  --json bench-results.json "$@"
