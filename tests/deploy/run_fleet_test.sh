#!/usr/bin/env bash
# examples/run-fleet.sh as a user runs it: it starts a musterd, three
# identity instances and a frontend; the frontend's stats soon show
# answers from all three instances and no failure; a SIGTERM (as Ctrl-C)
# stops everything cleanly: the script exits 0, prints the frontend's
# final stats, and leaves no process behind.
#
# Usage: tests/deploy/run_fleet_test.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:?usage: run_fleet_test.sh BUILD_DIR}" && pwd)"
out="$(mktemp)"
cleanup() {
  if [[ -n "${fleet:-}" ]] && kill -0 "${fleet}" 2>/dev/null; then
    kill -TERM "${fleet}" 2>/dev/null || true
    wait "${fleet}" 2>/dev/null || true
  fi
  if [[ -n "${work:-}" ]]; then
    pkill -KILL -f "${work}" 2>/dev/null || true
    rm -rf "${work}"
  fi
  rm -f "${out}"
}
trap cleanup EXIT

cd "${root}"
env -u MUSTER_ADDR RATE=50 EVERY=1 examples/run-fleet.sh "${build}" \
  >"${out}" 2>&1 &
fleet=$!

# A stats line naming all three instances, with no failure.
seen=0
for _ in $(seq 60); do
  sleep 1
  work="$(sed -n 's/^run-fleet: logs in //p' "${out}")"
  line="$(grep '"by_instance"' "${out}" | tail -1 || true)"
  if [[ "${line}" == *'"identity-1"'* && "${line}" == *'"identity-2"'* &&
    "${line}" == *'"identity-3"'* ]]; then
    seen=1
    break
  fi
  kill -0 "${fleet}" 2>/dev/null || break
done
if ((!seen)); then
  echo "run-fleet: no stats line with all three instances:" >&2
  cat "${out}" >&2
  exit 1
fi
if [[ "${line}" != *'"failures":0'* ]]; then
  echo "run-fleet: the frontend had failures: ${line}" >&2
  exit 1
fi
echo "ok: ${line}"

kill -TERM "${fleet}"
code=0
wait "${fleet}" || code=$?
fleet=""
if ((code != 0)); then
  echo "run-fleet: exited ${code} on SIGTERM:" >&2
  cat "${out}" >&2
  exit 1
fi
if ! grep -q "frontend's final stats" "${out}"; then
  echo "run-fleet: no final stats:" >&2
  cat "${out}" >&2
  exit 1
fi
# Every process it started (each line "... (pid N)") is gone.
for pid in $(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "${out}"); do
  if kill -0 "${pid}" 2>/dev/null; then
    echo "run-fleet: process ${pid} left behind: $(ps -o args= -p "${pid}")" >&2
    exit 1
  fi
done
echo "ok: stopped cleanly"
