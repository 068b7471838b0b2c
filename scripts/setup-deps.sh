#!/usr/bin/env bash
# Installs the Debian 12 packages that muster's build and tests need.
# Idempotent: when every package is already installed it changes nothing
# and does not touch the network. Runs apt-get directly as root, through
# sudo otherwise.
set -euo pipefail

PACKAGES=(
  # toolchain (ccache: the test command's second, sanitized build reuses
  # the generated code the first one compiled; clang-14: the
  # -Wthread-safety pass and the fuzz targets, whose libFuzzer, ASan and
  # UBSan runtimes are in libclang-rt-14-dev)
  cmake ninja-build g++ pkg-config clang-format ca-certificates ccache
  clang-14 libclang-rt-14-dev
  # gRPC and Protobuf: libraries, protoc, the C++/Python plugins, the
  # grpc.health.v1 proto
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto
  # libraries
  libabsl-dev librocksdb-dev libcurl4-openssl-dev libcli11-dev
  libcpp-httplib-dev
  # YAML for `musterctl register -f` (many instances from a file)
  libyaml-cpp-dev
  # DNS: the wire format of musterd's DNS interface (libldns), and dig as
  # an independent client in its tests
  libldns-dev bind9-dnsutils
  # OpenSSL's libcrypto: token secrets (RAND_bytes) and their SHA-256
  libssl-dev
  # tests: Catch2 v2, and an independent gRPC client for end-to-end tests;
  # openssl makes the TLS tests' certificates
  catch2 python3-grpcio openssl
  # etcd: the members of the etcd store backend's tests (etcd-server),
  # and etcdctl for operators of a muster on etcd (etcd-client)
  etcd-server etcd-client
  # tests: PyYAML parses the Kubernetes manifests of deploy/k8s
  # (tests/deploy/ha_manifests_test.sh)
  python3-yaml
  # tests: the dashboard's browser tests (tests/browser) drive Debian's
  # headless Chromium through playwright-core, which downloads no browser
  chromium
)

# One dpkg-query for all; a package dpkg has never seen is not listed.
installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
  "${PACKAGES[@]}" 2>/dev/null || true)"
missing=()
for package in "${PACKAGES[@]}"; do
  if ! grep -qxF "${package} installed" <<<"${installed}"; then
    missing+=("${package}")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup-deps: missing packages (${missing[*]}); run as root or install sudo" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Recommends are never needed here: every package's build-time needs are
# hard dependencies.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
