#!/usr/bin/env bash
# Installs the dependencies, builds everything in ./build, checks the
# formatting of our sources and runs the whole test suite through ctest.
# Exits non-zero when the build, the format check or any test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=ON
ninja -C build -j"$(nproc)"

# Our own .h/.cc files only: generated code lives in build directories.
format_ok=1
sources=()
for dir in registry healthchecker cli tests bench; do
  [[ -d "${dir}" ]] || continue
  while IFS= read -r -d '' file; do
    sources+=("${file}")
  done < <(find "${dir}" \( -type d -name 'build*' -prune \) -o -type f \
    \( -name '*.h' -o -name '*.cc' \) ! -name '*.pb.h' ! -name '*.pb.cc' \
    -print0 | sort -z)
done
if ((${#sources[@]} > 0)) &&
  ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "test.sh: formatting differs from .clang-format; run:" >&2
  echo "  clang-format -i <the files above>" >&2
  format_ok=0
fi

# The tests run even when the format check failed, so one CI run reports
# both; the exit status still fails.
ctest --test-dir build --output-on-failure -j2 --timeout 300
((format_ok)) || exit 1
echo "test.sh: build, format check and tests passed"
