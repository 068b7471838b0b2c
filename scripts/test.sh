#!/usr/bin/env bash
# Installs the dependencies, builds everything in ./build, checks the
# formatting of our sources and runs the whole test suite through ctest;
# then builds our code with ASan and UBSan in ./build-asan and runs the
# integration, end-to-end and hostile-watcher tests again under them,
# builds the libFuzzer targets in ./build-fuzz and runs each for a few
# seconds, and checks our code's lock annotations with clang
# (scripts/thread-safety.sh).
# Exits non-zero when a build, the format check, the thread-safety pass or
# any test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
# ccache lets the sanitized build below reuse the generated code compiled
# here (it is built without the sanitizers); paths relative to the checkout.
export CCACHE_BASEDIR="${PWD}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
ninja -C build -j"$(nproc)"

# Our own .h/.cc files only: generated code lives in build directories.
format_ok=1
sources=()
for dir in common checkapi registry codec store rpc dns xds daemon healthchecker \
  client cli http explain \
  ui \
  examples testkit tests bench fuzz; do
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

# The lowest CPU priority there is for the background jobs below:
# SCHED_IDLE where chrt can set it (they then run only on cores the tests
# leave idle), nice 19 in any case.
idle() {
  if chrt --idle 0 true 2>/dev/null; then
    chrt --idle 0 nice -n 19 "$@"
  else
    nice -n 19 "$@"
  fi
}

# Second build: our code with AddressSanitizer and UndefinedBehaviorSanitizer
# (the generated code stays uninstrumented), for the integration,
# end-to-end and hostile-watcher tests against the sanitized musterd and
# musterctl. It compiles at the lowest priority while the plain tests run
# (they mostly wait on timers and processes), so it costs little time and
# takes no CPU the tests want.
sanitized_targets=(musterd musterctl integration_tests e2e_daemon_tests
  e2e_checker_tests e2e_cli_tests fault_watchers_tests e2e_tls_tests
  e2e_transport_limits_tests unit_client_tests e2e_client_tests identity
  frontend e2e_fleet_tests unit_dns_tests e2e_dns_tests unit_xds_tests
  e2e_xds_tests etcd_client_tests etcd_store_tests e2e_ha_tests http_api_tests
  e2e_http_api_tests unit_ui_tests unit_registry_tests unit_healthchecker_tests)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=ON -DMUSTER_SANITIZE=ON \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
idle ninja -C build-asan -j"$(nproc)" "${sanitized_targets[@]}" \
  >build-asan/build.log 2>&1 &
sanitized_build=$!

# Third build: the libFuzzer targets (fuzz/, clang-14, our code with
# coverage instrumentation, ASan and UBSan), also at the lowest priority;
# each then fuzzes for a few seconds from its corpus (ctest -L fuzz).
# scripts/fuzz.sh runs them for longer.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSTER_BUILD_TESTS=OFF -DMUSTER_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
idle ninja -C build-fuzz -j"$(nproc)" muster_fuzzers \
  >build-fuzz/build.log 2>&1 &
fuzz_build=$!

# A clang pass over our code with -Wthread-safety -Werror checks the lock
# annotations (syntax only, nothing is built); also at the lowest priority.
idle scripts/thread-safety.sh build >build/thread-safety.log 2>&1 &
thread_safety=$!

# The tests run even when the format check failed, so one CI run reports
# both; the exit status still fails.
tests_ok=1
ctest --test-dir build --output-on-failure -j2 --timeout 300 || tests_ok=0

if ! wait "${thread_safety}"; then
  cat build/thread-safety.log >&2
  echo "test.sh: the clang thread-safety pass failed (build/thread-safety.log)" >&2
  tests_ok=0
fi

if wait "${sanitized_build}"; then
  # Only the targets above were built: ctest lists the others (and the
  # bench) as not built; they ran above.
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  ctest --test-dir build-asan --output-on-failure -j2 --timeout 300 \
    -E '_NOT_BUILT|muster-bench|deploy_|layering_' || tests_ok=0
else
  tail -n 50 build-asan/build.log >&2
  echo "test.sh: the sanitized build failed (build-asan/build.log)" >&2
  tests_ok=0
fi

if wait "${fuzz_build}"; then
  ctest --test-dir build-fuzz --output-on-failure -j2 --timeout 120 -L fuzz ||
    tests_ok=0
else
  tail -n 50 build-fuzz/build.log >&2
  echo "test.sh: the fuzz build failed (build-fuzz/build.log)" >&2
  tests_ok=0
fi

((tests_ok)) || exit 1
((format_ok)) || exit 1
echo "test.sh: build, format check, thread-safety pass, tests, sanitized tests and fuzz runs passed"
