#!/usr/bin/env bash
# Quick start: installs the dependencies, builds musterd and musterctl
# (RelWithDebInfo, ./build) and runs musterd from the checkout with its
# data in ./muster-data, gRPC on 127.0.0.1:7400 and HTTP (/metrics, /healthz) on 127.0.0.1:7401.
# Extra arguments go to musterd, e.g. ./scripts/run.sh --log-level debug
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C build musterd musterctl

# The checkout's data dir, unless the caller chose one.
data_dir=(--data-dir ./muster-data)
for arg in "$@"; do
  case "${arg}" in
    --data-dir | --data-dir=*) data_dir=() ;;
  esac
done
# As the systemd unit and the container image run it (deploy/musterd.service).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
exec ./build/daemon/musterd "${data_dir[@]}" "$@"
