#!/bin/sh
# Runs the grpc-js xDS client test (xds_client_test.js) against musterd.
#
#   run.sh CACHE_DIR MUSTERD PROTO_DIR
#
# CACHE_DIR (under the CMake build dir) gets package.json and
# package-lock.json and their node_modules (`npm ci`, again only when the
# lock file changed); the test then runs with NODE_PATH pointing there.
# Exits 77 (ctest's SKIP_RETURN_CODE) when `node` is missing, 1 when `npm`
# is missing or the install fails.
set -eu

if [ "$#" -ne 3 ]; then
  echo "usage: $0 CACHE_DIR MUSTERD PROTO_DIR" >&2
  exit 2
fi
cache=$1
musterd=$2
proto_dir=$3
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (Node.js 18 or later runs this test)" >&2
  exit 77
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "FAIL: node is installed but npm is not; npm installs the test's" \
    "packages (@grpc/grpc-js, @grpc/grpc-js-xds)" >&2
  exit 1
fi

mkdir -p "$cache"
if ! cmp -s "$here/package-lock.json" "$cache/package-lock.json" ||
  [ ! -d "$cache/node_modules/@grpc/grpc-js-xds" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  # --ignore-scripts: no package's install script runs (none is needed).
  if ! (cd "$cache" && npm ci --no-audit --no-fund --ignore-scripts); then
    rm -f "$cache/package-lock.json"
    echo "FAIL: npm ci in $cache failed (is the npm registry reachable?)" >&2
    exit 1
  fi
fi

NODE_PATH="$cache/node_modules" exec node "$here/xds_client_test.js" \
  --musterd "$musterd" --proto-dir "$proto_dir"
