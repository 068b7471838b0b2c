#!/usr/bin/env bash
# The client library as a service outside the tree uses it: `cmake
# --install` into a temporary root, then a small program
# (client_consumer/) is built against the installed files twice, once
# through the CMake package (find_package(MusterClient)) and once through
# pkg-config (muster-client.pc), and each build registers itself with a
# real musterd, finds itself through a resolver, and deregisters. The installed library exports only
# muster::client's symbols (no generated muster::v1 or protobuf code).
#
# Usage: tests/deploy/client_install_test.sh BUILD_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:?usage: client_install_test.sh BUILD_DIR}" && pwd)"
work="$(mktemp -d)"
cleanup() {
  if [[ -n "${daemon:-}" ]]; then
    kill "${daemon}" 2>/dev/null || true
    wait "${daemon}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

root="${work}/root"
DESTDIR="${root}" cmake --install "${build}" --prefix /usr >/dev/null
libdir="$(dirname "$(find "${root}" -name 'libmuster-client.so' | head -1)")"
for file in "${libdir}/libmuster-client.so" \
  "${root}/usr/include/muster/client/client.h" \
  "${libdir}/pkgconfig/muster-client.pc" \
  "${libdir}/cmake/MusterClient/MusterClientConfig.cmake"; do
  [[ -e "${file}" ]] || { echo "client install: missing ${file}" >&2; exit 1; }
done

leaked="$(nm -D --defined-only "${libdir}/libmuster-client.so" | c++filt |
  grep -E 'muster::v1|google::protobuf' | head -3 || true)"
if [[ -n "${leaked}" ]]; then
  echo "client install: the library exports more than muster::client:" >&2
  echo "${leaked}" >&2
  exit 1
fi

# Through the CMake package.
cmake -S "${here}/client_consumer" -B "${work}/cmake-build" -G Ninja \
  -DCMAKE_PREFIX_PATH="${root}/usr" >/dev/null
ninja -C "${work}/cmake-build" >/dev/null
# Through pkg-config.
PKG_CONFIG_PATH="${libdir}/pkgconfig" c++ -std=c++17 -o "${work}/pc-consumer" \
  "${here}/client_consumer/main.cc" \
  $(PKG_CONFIG_PATH="${libdir}/pkgconfig" pkg-config --cflags --libs muster-client)

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
http_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"${build}/daemon/musterd" --listen "127.0.0.1:${port}" \
  --http-listen "127.0.0.1:${http_port}" --data-dir "${work}/data" \
  >"${work}/musterd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  "${build}/cli/musterctl" --addr "127.0.0.1:${port}" status >/dev/null 2>&1 && break
  sleep 0.1
done

fail=0
for consumer in "${work}/cmake-build/consumer" "${work}/pc-consumer"; do
  if output="$(LD_LIBRARY_PATH="${libdir}" MUSTER_ADDR="127.0.0.1:${port}" \
    "${consumer}" installed 9000 2>&1)" &&
    grep -q '^registered 127.0.0.1:9000 incarnation [1-9]' <<<"${output}" &&
    grep -q '^resolved 1$' <<<"${output}" &&
    grep -q '^deregistered$' <<<"${output}"; then
    echo "ok: ${consumer##*/}: ${output//$'\n'/; }"
  else
    echo "client install: ${consumer##*/} failed: ${output}" >&2
    fail=1
  fi
done
# Both registered and deregistered: the daemon's history says so.
history="$("${build}/cli/musterctl" --addr "127.0.0.1:${port}" history installed 127.0.0.1:9000 2>&1 || true)"
registered="$(grep -c 'REGISTERED' <<<"${history}" || true)"
deregistered="$(grep -c 'DEREGISTERED' <<<"${history}" || true)"
if ((deregistered != 2)); then
  echo "client install: expected 2 deregistrations in history:" >&2
  echo "${history}" >&2
  fail=1
fi
echo "history: ${registered} lines with REGISTERED, ${deregistered} DEREGISTERED"
exit "${fail}"
