#!/bin/sh
# Runs the dashboard's browser tests (dashboard_test.js): headless Chromium
# (Debian's `chromium`, scripts/setup-deps.sh installs it) driven by
# playwright-core against a real musterd that the test starts.
#
#   run.sh CACHE_DIR MUSTERD MUSTERCTL SCREENSHOT_DIR [--only NAME]
#
# CACHE_DIR (under the CMake build dir) gets package.json and
# package-lock.json and their node_modules (`npm ci`, again only when the
# lock file changed); the test then runs with NODE_PATH pointing there.
# playwright-core downloads no browser (it has no install script, and
# --ignore-scripts runs none); the test launches /usr/bin/chromium, or
# $MUSTER_CHROMIUM. Exits 77 (ctest's SKIP_RETURN_CODE) when `node` is
# missing, 1 when npm or chromium is missing or the install fails.
set -eu

if [ "$#" -lt 4 ]; then
  echo "usage: $0 CACHE_DIR MUSTERD MUSTERCTL SCREENSHOT_DIR [--only NAME]" >&2
  exit 2
fi
cache=$1
musterd=$2
musterctl=$3
screenshots=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
chromium=${MUSTER_CHROMIUM:-/usr/bin/chromium}

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (Node.js 18 or later runs this test)" >&2
  exit 77
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "FAIL: node is installed but npm is not; npm installs the test's" \
    "package (playwright-core)" >&2
  exit 1
fi
if [ ! -x "$chromium" ]; then
  echo "FAIL: no Chromium at $chromium; install Debian's chromium" \
    "(scripts/setup-deps.sh) or set MUSTER_CHROMIUM" >&2
  exit 1
fi

mkdir -p "$cache"
if ! cmp -s "$here/package-lock.json" "$cache/package-lock.json" ||
  [ ! -d "$cache/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  if ! (cd "$cache" && npm ci --no-audit --no-fund --ignore-scripts); then
    rm -f "$cache/package-lock.json"
    echo "FAIL: npm ci in $cache failed (is the npm registry reachable?)" >&2
    exit 1
  fi
fi

NODE_PATH="$cache/node_modules" exec node "$here/dashboard_test.js" \
  --musterd "$musterd" --musterctl "$musterctl" \
  --screenshots "$screenshots" --chromium "$chromium" "$@"
