#!/usr/bin/env bash
# Compiles every translation unit of ours (not the generated *.pb.cc) with
# clang++-14 as a syntax-only pass with -Wthread-safety -Werror, so the
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations are checked
# by a compiler. The flags come from BUILD_DIR/compile_commands.json
# (default: build), with the compiler swapped and gcc-only flags removed.
# Runs two files at a time, prints the diagnostics of every failing file
# and exits non-zero if any file has a warning.
#
# Usage: scripts/thread-safety.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${1:-build}"
database="${build_dir}/compile_commands.json"
clang="${CLANG:-clang++-14}"
if [[ ! -f "${database}" ]]; then
  echo "thread-safety: ${database} not found; configure ${build_dir} first" >&2
  exit 1
fi
if ! command -v "${clang}" >/dev/null 2>&1; then
  echo "thread-safety: ${clang} not found (Debian package clang-14)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# One shell-quoted command line per entry of ours: cd to its directory,
# run clang on its arguments. The output file, -c and gcc's own flags go;
# unknown -W options (gcc-only warnings) are ignored by clang.
python3 - "${database}" "${clang}" >"${work}/commands" <<'PY'
import json, shlex, sys

database, clang = sys.argv[1], sys.argv[2]
GCC_ONLY_PREFIXES = ("-fconcepts-diagnostics-depth", "-fno-semantic-interposition",
                     "-fstack-clash-protection", "-fno-tree-", "-fmax-errors")
for entry in json.load(open(database)):
    source = entry["file"]
    if source.endswith(".pb.cc"):
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    kept, skip = [], False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif arg in ("-c", "-MD", "-MMD") or arg.startswith(GCC_ONLY_PREFIXES):
            pass
        else:
            kept.append(arg)
    command = [clang, "-fsyntax-only", "-Wthread-safety", "-Werror",
               "-Wno-unknown-warning-option"] + kept
    print(shlex.quote(source), shlex.quote(entry["directory"]),
          shlex.quote(shlex.join(command)))
PY

check_one() {
  local source="$1" directory="$2" command="$3" log
  log="${WORK}/$(printf '%s' "${source}" | tr '/' '_').log"
  if ! (cd "${directory}" && eval "${command}") >"${log}" 2>&1; then
    echo "${source}" >>"${WORK}/failed"
  fi
}
export -f check_one
export WORK="${work}"

count="$(wc -l <"${work}/commands")"
# xargs splits each line into the three quoted fields above.
xargs -P 2 -L 1 bash -c 'check_one "$@"' _ <"${work}/commands" || true

if [[ -s "${work}/failed" ]]; then
  sort -o "${work}/failed" "${work}/failed"
  while IFS= read -r source; do
    echo "=== ${source}"
    cat "${work}/$(printf '%s' "${source}" | tr '/' '_').log"
  done <"${work}/failed"
  echo "thread-safety: $(wc -l <"${work}/failed") of ${count} files have clang warnings" >&2
  exit 1
fi
echo "thread-safety: ${count} files clean (${clang} -Wthread-safety -Werror)"
