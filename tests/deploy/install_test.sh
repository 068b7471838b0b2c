#!/usr/bin/env bash
# The README's install recipe, into a temporary root: `cmake --install
# BUILD --prefix /usr` with DESTDIR, then every path the systemd unit
# reads must be where the unit looks for it: the binary of ExecStart, the
# EnvironmentFile, the sysusers entry for its User=, and musterctl.
#
# Usage: tests/deploy/install_test.sh BUILD_DIR
set -euo pipefail
build_dir="$1"
root="$(mktemp -d)"
trap 'rm -rf "${root}"' EXIT

DESTDIR="${root}" cmake --install "${build_dir}" --prefix /usr >/dev/null

fail=0
expect_file() {
  if [[ -f "${root}$1" ]]; then
    echo "ok: $1 ($2)"
  else
    echo "MISSING: $1 ($2); installed files:" >&2
    (cd "${root}" && find . -type f | sort) >&2
    fail=1
  fi
}

unit=/usr/lib/systemd/system/musterd.service
expect_file "${unit}" "the unit"
[[ -f "${root}${unit}" ]] || exit 1

exec_start="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "${root}${unit}")"
expect_file "${exec_start}" "ExecStart"
[[ -x "${root}${exec_start}" ]] || { echo "not executable: ${exec_start}" >&2; fail=1; }

env_file="$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "${root}${unit}")"
expect_file "${env_file}" "EnvironmentFile"
if ! grep -q '^MUSTERD_OPTS=' "${root}${env_file}"; then
  echo "${env_file} sets no MUSTERD_OPTS" >&2
  fail=1
fi

user="$(sed -n 's/^User=//p' "${root}${unit}")"
expect_file /usr/lib/sysusers.d/musterd.conf "sysusers"
if ! grep -Eq "^u[[:space:]]+${user}[[:space:]]" \
  "${root}/usr/lib/sysusers.d/musterd.conf"; then
  echo "the sysusers entry does not create User=${user}" >&2
  fail=1
fi

expect_file /usr/bin/musterctl "musterctl"
"${root}${exec_start}" --version >/dev/null || {
  echo "the installed musterd does not run" >&2
  fail=1
}
exit "${fail}"
