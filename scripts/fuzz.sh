#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14 in ./build-fuzz and
# runs each for SECONDS (default 60), one after the other, starting from
# its corpus in fuzz/corpus/<target>. A crash, leak, UBSan report or hang
# fails, with the input saved in build-fuzz/fuzz/findings/<target>/ and
# the run's log in build-fuzz/fuzz/<target>.log. With --merge, the new
# inputs that add coverage are merged into fuzz/corpus/<target>
# (libFuzzer -merge=1); without it the corpus is left as it is.
#
# Usage: scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]
#   TARGET: requests, stored_record, page_token, http_response (default all)
#   scripts/fuzz.sh 600                    ten minutes per target
#   scripts/fuzz.sh --merge 300 requests   five minutes, keep what is new
# Extra libFuzzer flags go in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2
# -workers=2" to use both cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

all_targets=(requests stored_record page_token http_response)
merge=0
if [[ "${1:-}" == "--merge" ]]; then
  merge=1
  shift
fi
seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  if [[ ! -d "fuzz/corpus/${target}" ]]; then
    echo "fuzz.sh: unknown target ${target} (want: ${all_targets[*]})" >&2
    exit 2
  fi
done

export CCACHE_BASEDIR="${PWD}"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=OFF -DMUSTER_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" >/dev/null
ninja -C build-fuzz "${targets[@]/%/_fuzzer}"

status=0
for target in "${targets[@]}"; do
  fuzzer="build-fuzz/fuzz/${target}_fuzzer"
  log="build-fuzz/fuzz/${target}.log"
  new_inputs="build-fuzz/fuzz/new/${target}"
  echo "fuzz.sh: ${target} for ${seconds}s (log: ${log})" >&2
  rm -rf "${new_inputs}"
  # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
  if FUZZ_NEW_INPUTS="${new_inputs}" fuzz/run.sh "${fuzzer}" \
    "fuzz/corpus/${target}" "${seconds}" "build-fuzz/fuzz/findings/${target}" \
    ${FUZZ_FLAGS:-} >"${log}" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
      "${log}" | sed "s/^/  ${target} /" >&2
  else
    grep -E 'invariant broken|^SUMMARY|ERROR: libFuzzer|Test unit written' \
      "${log}" >&2 || tail -n 20 "${log}" >&2
    echo "fuzz.sh: ${target} failed; see ${log}" >&2
    status=1
    continue
  fi
  if ((merge)); then
    before="$(find "fuzz/corpus/${target}" -type f | wc -l)"
    "${fuzzer}" -merge=1 "fuzz/corpus/${target}" "${new_inputs}" \
      >"build-fuzz/fuzz/${target}.merge.log" 2>&1
    after="$(find "fuzz/corpus/${target}" -type f | wc -l)"
    echo "fuzz.sh: ${target}: $((after - before)) inputs merged into fuzz/corpus/${target}" >&2
  fi
done
exit "${status}"
