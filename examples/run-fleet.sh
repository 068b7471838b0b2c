#!/usr/bin/env bash
# Runs the example fleet on this machine: a musterd, three identity
# instances on free ports, and one frontend calling service://identity,
# printing the frontend's /stats every few seconds. Ctrl-C stops it all:
# the frontend first, then the identity instances (each drains, waits its
# grace and deregisters), then the musterd it started.
#
# Usage: examples/run-fleet.sh [BUILD_DIR]      (default: build)
#
# Environment:
#   MUSTER_ADDR   a running musterd to use (host:port); unset: start one
#                 from BUILD_DIR/daemon/musterd with a temporary data dir
#   MUSTER_REALM  the realm (default: default)
#   RATE          the frontend's requests a second (default: 20)
#   EVERY         seconds between stats lines (default: 3)
#
# While it runs, try (from another terminal, with the MUSTER_ADDR printed
# at start): kill -9 an identity instance and watch the frontend retry
# around it; `build/cli/musterctl drain identity identity-2` and watch identity-2's
# count stop; the logs are in the directory printed at start.
set -euo pipefail

build_dir="${1:-build}"
rate="${RATE:-20}"
every="${EVERY:-3}"
for binary in examples/identity examples/frontend; do
  if [[ ! -x "${build_dir}/${binary}" ]]; then
    echo "run-fleet: ${build_dir}/${binary} not found; build it first" \
      "(ninja -C ${build_dir} identity frontend musterd)" >&2
    exit 1
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/muster-fleet.XXXXXX")"
pids=()
identity_pids=()
musterd_pid=""
frontend_pid=""

# A TCP port on 127.0.0.1 that is free now.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 20000))
  fi
}

# Stops what was started, then exits with $1.
stop_all() {
  local code="$1"
  trap - INT TERM EXIT
  echo
  echo "run-fleet: stopping (logs stay in ${work})"
  if [[ -n "${frontend_pid}" ]]; then
    kill -TERM "${frontend_pid}" 2>/dev/null || true
    wait "${frontend_pid}" 2>/dev/null || true
    echo "run-fleet: frontend's final stats:"
    cat "${work}/frontend.out" 2>/dev/null || true
  fi
  # The identity instances drain, wait their grace, and deregister.
  for pid in "${identity_pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
  for pid in "${identity_pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  if [[ -n "${musterd_pid}" ]]; then
    kill -TERM "${musterd_pid}" 2>/dev/null || true
    wait "${musterd_pid}" 2>/dev/null || true
  fi
  exit "${code}"
}
# Ctrl-C (which the children get too) and SIGTERM are a clean stop.
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

if [[ -z "${MUSTER_ADDR:-}" ]]; then
  if [[ ! -x "${build_dir}/daemon/musterd" ]]; then
    echo "run-fleet: ${build_dir}/daemon/musterd not found and MUSTER_ADDR" \
      "unset" >&2
    exit 1
  fi
  grpc_port="$(free_port)"
  http_port="$(free_port)"
  # In a session of its own, so that Ctrl-C (sent to this terminal's
  # process group) leaves it up until the instances have deregistered.
  setsid "${build_dir}/daemon/musterd" --listen "127.0.0.1:${grpc_port}" \
    --http-listen "127.0.0.1:${http_port}" --data-dir "${work}/data" \
    >"${work}/musterd.log" 2>&1 &
  musterd_pid=$!
  export MUSTER_ADDR="127.0.0.1:${grpc_port}"
  # Wait until it listens.
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${grpc_port}") 2>/dev/null; then break; fi
    if ! kill -0 "${musterd_pid}" 2>/dev/null; then
      echo "run-fleet: musterd exited; see ${work}/musterd.log" >&2
      musterd_pid=""
      exit 1
    fi
    sleep 0.1
  done
  echo "run-fleet: started musterd at ${MUSTER_ADDR} (pid ${musterd_pid})"
else
  echo "run-fleet: using musterd at ${MUSTER_ADDR}"
fi
export MUSTER_REALM="${MUSTER_REALM:-default}"
echo "run-fleet: logs in ${work}"

identity_ports=()
for n in 1 2 3; do
  port="$(free_port)"
  "${build_dir}/examples/identity" --port "${port}" --id "identity-${n}" \
    >"${work}/identity-${n}.log" 2>"${work}/identity-${n}.err" &
  identity_pids+=($!)
  identity_ports+=("${port}")
  echo "run-fleet: identity-${n} on http://127.0.0.1:${port} (pid $!)"
done
# Until musterd has them PASSING (their first heartbeat), the frontend
# would find no routable instance.
if command -v curl >/dev/null; then
  for port in "${identity_ports[@]}"; do
    for _ in $(seq 100); do
      if curl -s "http://127.0.0.1:${port}/stats" | grep -q '"PASSING"'; then
        break
      fi
      sleep 0.1
    done
  done
fi

stats_port="$(free_port)"
"${build_dir}/examples/frontend" --rate "${rate}/s" --stats-port "${stats_port}" \
  --log "${work}/frontend.requests" \
  >"${work}/frontend.out" 2>"${work}/frontend.err" &
frontend_pid=$!
echo "run-fleet: frontend at ${rate}/s, stats on" \
  "http://127.0.0.1:${stats_port}/stats (pid ${frontend_pid}); Ctrl-C stops"

while true; do
  sleep "${every}"
  if ! kill -0 "${frontend_pid}" 2>/dev/null; then
    echo "run-fleet: the frontend exited; see ${work}/frontend.err" >&2
    frontend_pid=""
    exit 1
  fi
  if command -v curl >/dev/null; then
    echo "$(date +%T) $(curl -s "http://127.0.0.1:${stats_port}/stats")"
  fi
done
