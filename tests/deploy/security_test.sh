#!/usr/bin/env bash
# The README's "Secure it in three commands", as a user runs them: the
# fenced block after "Secure it in three commands" is read from README.md
# and run line by line in a temporary dir (musterd's line in the
# background), with the build's binaries. Then what the section promises:
# the bootstrap token file is 0600, the log names it but not its secret,
# the port refuses a plaintext client and a caller without a token, the
# new token registers in realm "default" but may not create a realm, and
# the secret is nowhere in the data dir in clear.
#
# Usage: tests/deploy/security_test.sh BUILD_DIR
# Needs 127.0.0.1:7400 and :7401 free (the README's commands use the
# default ports; ctest runs it alone: RUN_SERIAL).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:?usage: security_test.sh BUILD_DIR}" && pwd)"

mapfile -t commands < <(awk '
  /^### Secure it in three commands/ { found = 1; next }
  found && /^```/ { if (inside) exit; inside = 1; next }
  found && inside && NF { print }
' "${root}/README.md")
if ((${#commands[@]} != 3)); then
  echo "security: expected 3 commands in README.md, found ${#commands[@]}" >&2
  exit 1
fi

work="$(mktemp -d)"
cleanup() {
  if [[ -n "${daemon:-}" ]]; then
    kill "${daemon}" 2>/dev/null || true
    wait "${daemon}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT
cd "${work}"
# The README's lines name build/daemon/musterd and build/cli/musterctl.
ln -s "${build}" build

fail() {
  echo "security: $*" >&2
  [[ -f musterd.log ]] && cat musterd.log >&2
  exit 1
}
ctl() { build/cli/musterctl --timeout 5s "$@"; }

echo "\$ ${commands[0]}"
bash -c "${commands[0]}" >/dev/null 2>&1 || fail "the certificate command failed"
[[ -s tls.crt && -s tls.key ]] || fail "no tls.crt and tls.key"

echo "\$ ${commands[1]}"
[[ "${commands[1]}" == *" &" ]] || fail "musterd's line does not end with &"
bash -c "exec ${commands[1]% &}" >musterd.log 2>&1 &
daemon=$!
for ((i = 0; i < 200; i++)); do
  if [[ -s muster-data/bootstrap-token ]] &&
    ctl --ca tls.crt --token-file muster-data/bootstrap-token status \
      >/dev/null 2>&1; then
    break
  fi
  kill -0 "${daemon}" 2>/dev/null || fail "musterd exited"
  sleep 0.1
done

echo "\$ ${commands[2]}"
created="$(bash -c "${commands[2]}")" || fail "token create failed"
echo "${created}"
secret="$(sed -n 's/^secret: //p' <<<"${created}")"
[[ -n "${secret}" ]] || fail "token create printed no secret"

# The bootstrap file: 0600, named in the log, its secret nowhere in it.
bootstrap="$(cat muster-data/bootstrap-token)"
[[ "$(stat -c %a muster-data/bootstrap-token)" == 600 ]] ||
  fail "the bootstrap token file is not 0600"
grep -q "muster-data/bootstrap-token" musterd.log ||
  fail "the log does not name the bootstrap token file"
if grep -qF "${bootstrap}" musterd.log || grep -qF "${secret}" musterd.log; then
  fail "a secret is in musterd's log"
fi

# TLS and tokens are enforced.
if ctl status >/dev/null 2>&1; then
  fail "a plaintext client got in"
fi
set +e
out="$(ctl --ca tls.crt services 2>&1)"
rc=$?
set -e
[[ ${rc} -eq 1 && "${out}" == *UNAUTHENTICATED* ]] ||
  fail "a call without a token was not UNAUTHENTICATED (exit ${rc}): ${out}"

# The deployer's token writes in "default", and nothing more.
ctl --ca tls.crt --token "${secret}" register web --address 127.0.0.1 \
  --port 8080 --id web-1 >/dev/null || fail "the new token cannot register"
set +e
out="$(ctl --ca tls.crt --token "${secret}" realm create production 2>&1)"
rc=$?
set -e
[[ ${rc} -eq 1 && "${out}" == *PERMISSION_DENIED* ]] ||
  fail "a write token created a realm (exit ${rc}): ${out}"
ctl --ca tls.crt --token "${bootstrap}" history web web-1 | grep -q "token:deployer" ||
  fail "history does not name the deployer as the actor"

# Secrets are stored only as hashes.
kill "${daemon}"
wait "${daemon}" || true
daemon=""
if grep -rqF "${secret}" muster-data; then
  fail "the new token's secret is in the data dir in clear"
fi
if grep -rqF --exclude=bootstrap-token "${bootstrap}" muster-data; then
  fail "the bootstrap secret is in the data dir outside its file"
fi
echo "security: the README's three commands work"
