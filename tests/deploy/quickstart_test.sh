#!/usr/bin/env bash
# The README's quick start, as a new user runs it: `./scripts/run.sh`
# (install, build, run musterd on 127.0.0.1:7400), then every command of
# the README's "Then, in another shell" block, read from README.md
# itself, with <ID> replaced by the id the register command printed. The
# data dir is a temporary one (run.sh passes --data-dir on to musterd).
# build/cli/musterctl is removed first, so the test shows that run.sh
# builds it (ctest runs this test alone: RUN_SERIAL). Needs
# 127.0.0.1:7400 and :7401 free.
#
# Usage: tests/deploy/quickstart_test.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# The fenced block after "Then, in another shell:".
mapfile -t commands < <(awk '
  /^Then, in another shell:/ { found = 1; next }
  found && /^```/ { if (inside) exit; inside = 1; next }
  found && inside && NF { print }
' README.md)
if ((${#commands[@]} == 0)); then
  echo "quickstart: no commands found in README.md" >&2
  exit 1
fi

rm -f build/cli/musterctl
data="$(mktemp -d)"
log="${data}.log"
./scripts/run.sh --data-dir "${data}/muster-data" >"${log}" 2>&1 &
daemon=$!
cleanup() {
  kill "${daemon}" 2>/dev/null || true
  wait "${daemon}" 2>/dev/null || true
  rm -rf "${data}" "${log}"
}
trap cleanup EXIT

# run.sh builds first (a no-op on a built tree); then musterd answers.
for ((i = 0; i < 600; i++)); do
  if ./build/cli/musterctl status >/dev/null 2>&1; then break; fi
  if ! kill -0 "${daemon}" 2>/dev/null; then
    echo "quickstart: scripts/run.sh exited:" >&2
    cat "${log}" >&2
    exit 1
  fi
  sleep 0.5
done

id=""
for command in "${commands[@]}"; do
  command="${command//<ID>/${id}}"
  echo "\$ ${command}"
  case "${command}" in
    *" watch"*)
      # Streams until stopped: it must print the instance and still run.
      set +e
      output="$(timeout 3 bash -c "${command}" 2>&1)"
      rc=$?
      set -e
      echo "${output}"
      if ((rc != 124)) || ! grep -q "web" <<<"${output}"; then
        echo "quickstart: '${command}' exited ${rc} without showing web" >&2
        exit 1
      fi
      ;;
    *)
      output="$(bash -c "${command}" 2>&1)" || {
        echo "${output}"
        echo "quickstart: '${command}' failed" >&2
        exit 1
      }
      echo "${output}"
      if [[ "${command}" == *" register "* ]]; then
        id="$(sed -n 's#^registered [^/ ]*/\([^ ]*\) .*#\1#p' <<<"${output}")"
        [[ -n "${id}" ]] || {
          echo "quickstart: no id in the register output" >&2
          exit 1
        }
      fi
      ;;
  esac
done
echo "quickstart: every README command worked"
