#!/usr/bin/env bash
# Runs one libFuzzer target the way the test command does: every input of
# its corpus first, then fuzzing for SECONDS. New inputs go to a scratch
# directory that is removed afterwards (to FUZZ_NEW_INPUTS instead when
# set: scripts/fuzz.sh --merge keeps them); the corpus is only read. A
# crash, leak, UBSan report or timeout (10 s for one input) leaves its
# input in FINDINGS (libFuzzer prints the file name) and fails.
#
# Usage: fuzz/run.sh FUZZER CORPUS SECONDS FINDINGS [libFuzzer flags...]
set -euo pipefail
fuzzer="$1" corpus="$2" seconds="$3" findings="$4"
shift 4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="$(basename "${corpus}")"

if [[ -n "${FUZZ_NEW_INPUTS:-}" ]]; then
  scratch="${FUZZ_NEW_INPUTS}"
  mkdir -p "${scratch}"
else
  scratch="$(mktemp -d)"
  trap 'rm -rf "${scratch}"' EXIT
fi
mkdir -p "${findings}"
flags=(-max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048
  -print_final_stats=1 -artifact_prefix="${findings}/")
if [[ -f "${here}/dict/${name}.dict" ]]; then
  flags+=(-dict="${here}/dict/${name}.dict")
fi
# Leaks are checked; UBSan findings abort like ASan's.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The first directory is where libFuzzer writes what it finds.
status=0
"${fuzzer}" "${flags[@]}" "$@" "${scratch}" "${corpus}" || status=$?
if ((status != 0)); then
  echo "fuzz/run.sh: ${name} failed (exit ${status}); its input is in ${findings}" >&2
fi
exit "${status}"
