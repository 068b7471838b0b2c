#!/usr/bin/env bash
# Checks that the build enforces muster's layers (README.md, "Layers";
# cmake/Layers.cmake): for each rule below it compiles a one-line file
# that includes a header the layer may not use, with the flags of one of
# that layer's own sources from BUILD_DIR/compile_commands.json, and
# expects the compiler to refuse it. It also checks the registry core's
# sources by text: no gRPC, RocksDB, protobuf or generated *.pb.h
# include. Exits non-zero, naming the rule, when a layer could include
# what it must not.
#
# Usage: scripts/check-layers.sh [BUILD_DIR]   (a configured build dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir="${1:-build}"
database="${build_dir}/compile_commands.json"
if [[ ! -f "${database}" ]]; then
  echo "check-layers: ${database} not found; configure ${build_dir} first" >&2
  exit 1
fi

failed=0
# The issue's literal rule, by text, over the core folder.
if grep -rnE '#include\s*[<"](grpcpp|grpc\+\+|grpc|rocksdb|google/protobuf)/|#include\s*[<"][^>"]*\.pb\.h' \
  registry/; then
  echo "check-layers: the registry core includes gRPC, RocksDB or protobuf" >&2
  failed=1
fi

python3 - "${database}" <<'PY' || failed=1
import json, os, shlex, subprocess, sys, tempfile

# target: headers it must not be able to include.
RULES = {
    "muster_common": ["registry/model.h", "checkapi/check_spec.h",
                      "grpcpp/grpcpp.h", "rocksdb/db.h"],
    "muster_checkapi": ["registry/model.h", "healthchecker/health_checker.h",
                        "grpcpp/grpcpp.h"],
    "muster_registry": ["grpcpp/grpcpp.h", "grpc/grpc.h", "rocksdb/db.h",
                        "google/protobuf/message.h", "httplib.h",
                        "curl/curl.h", "muster/v1/types.pb.h",
                        "codec/model_proto.h", "store/layout/keys.h",
                        "store/rocksdb/rocksdb_store.h", "rpc/server.h",
                        "daemon/daemon_options.h",
                        "healthchecker/health_checker.h",
                        "fuzz/registry_world.h"],
    "muster_codec": ["grpcpp/grpcpp.h", "rocksdb/db.h", "rpc/server.h",
                     "store/layout/keys.h"],
    "muster_store_layout": ["grpcpp/grpcpp.h", "rocksdb/db.h",
                            "rpc/server.h"],
    "muster_store_memory": ["rocksdb/db.h", "grpcpp/grpcpp.h",
                            "codec/model_proto.h", "rpc/server.h"],
    # The second store: the core, the layout and its own etcd client.
    "muster_store_etcd": ["rocksdb/db.h", "rpc/server.h",
                          "store/rocksdb/rocksdb_store.h",
                          "store/memory/memory_store.h",
                          "healthchecker/health_checker.h",
                          "codec/model_proto.h", "daemon/daemon_options.h"],
    "muster_store_rocksdb": ["grpcpp/grpcpp.h", "rpc/server.h",
                             "store/memory/memory_store.h",
                             "healthchecker/health_checker.h"],
    "muster_rpc": ["rocksdb/db.h", "store/rocksdb/rocksdb_store.h",
                   "store/layout/keys.h", "healthchecker/health_checker.h",
                   "daemon/daemon_options.h", "httplib.h", "curl/curl.h",
                   "fuzz/fuzz_check.h"],
    # The xDS control plane: the registry core, gRPC and its own protos.
    "muster_xds": ["rpc/server.h", "rpc/auth.h", "store/layout/keys.h",
                   "store/rocksdb/rocksdb_store.h",
                   "healthchecker/health_checker.h", "codec/model_proto.h",
                   "muster/v1/types.pb.h", "daemon/daemon_options.h",
                   "rocksdb/db.h"],
    # The client library: musterd's public gRPC API only.
    # The DNS front end: the registry's façade and libldns only.
    "muster_dns": ["grpcpp/grpcpp.h", "grpc/grpc.h", "rpc/server.h",
                   "store/rocksdb/rocksdb_store.h", "store/layout/keys.h",
                   "rocksdb/db.h", "muster/v1/types.pb.h",
                   "daemon/daemon_options.h"],
    "muster_client": ["registry/model.h", "registry/registry.h",
                      "rpc/server.h", "store/rocksdb/rocksdb_store.h",
                      "codec/model_proto.h", "common/clock.h",
                      "cli/client.h", "rocksdb/db.h",
                      "grpc/health/v1/health.pb.h"],
    # The examples: the client library's public headers only.
    "identity": ["client/src/daemon_connection.h", "registry/model.h",
                 "muster/v1/types.pb.h", "rocksdb/db.h", "cli/client.h"],
    "frontend": ["client/src/resolver_impl.h", "rpc/server.h",
                 "muster/v1/registry.grpc.pb.h", "common/clock.h"],
    # The etcd client: gRPC and etcd's protos, nothing of muster's.
    "muster_etcd_client": ["registry/model.h", "registry/registry.h",
                           "store/layout/keys.h", "rocksdb/db.h",
                           "rpc/server.h", "muster/v1/types.pb.h"],
    # The HTTP/JSON API: the registry's façade, the codec, the explanation
    # and httplib; no gRPC, no rpc/, no store, not the daemon.
    "muster_http": ["grpcpp/grpcpp.h", "grpc/grpc.h", "rpc/server.h",
                    "rpc/auth.h", "store/rocksdb/rocksdb_store.h",
                    "store/layout/keys.h", "rocksdb/db.h",
                    "daemon/http_endpoint.h",
                    "healthchecker/health_checker.h", "cli/output.h"],
    # The explanation: the public protos only.
    "muster_explain": ["registry/model.h", "codec/model_proto.h",
                       "grpcpp/grpcpp.h", "rpc/server.h", "cli/output.h",
                       "httplib.h", "rocksdb/db.h"],
    # The dashboard's embedded files: standard C++ only.
    "muster_ui": ["registry/registry.h", "http/api.h", "httplib.h",
                  "grpcpp/grpcpp.h", "muster/v1/types.pb.h", "rocksdb/db.h"],
    "muster_healthchecker": ["registry/registry.h", "registry/model.h",
                             "rocksdb/db.h", "store/layout/keys.h",
                             "rpc/server.h", "codec/model_proto.h",
                             "httplib.h"],
}

entries = json.load(open(sys.argv[1]))
def command_of(target):
    for entry in entries:
        args = entry.get("arguments") or shlex.split(entry["command"])
        output = args[args.index("-o") + 1] if "-o" in args else ""
        if f"/{target}.dir/" in "/" + output:
            return entry["directory"], args
    return None, None

failures = 0
with tempfile.TemporaryDirectory() as work:
    for target, headers in RULES.items():
        directory, args = command_of(target)
        if args is None:
            print(f"check-layers: no source of {target} in the build")
            failures += 1
            continue
        if os.path.basename(args[0]) == "ccache":
            args = args[1:]
        kept, skip = [], False
        for arg in args:
            if skip:
                skip = False
                continue
            if arg in ("-o", "-c", "-MF", "-MT", "-MQ"):
                skip = True
                continue
            if arg in ("-MD", "-MMD") or arg.endswith((".cc", ".cpp")):
                continue
            kept.append(arg)
        for header in headers:
            probe = os.path.join(work, "probe.cc")
            with open(probe, "w") as f:
                f.write(f'#include "{header}"\n')
            result = subprocess.run(kept + ["-fsyntax-only", probe],
                                    cwd=directory, capture_output=True,
                                    text=True)
            if result.returncode == 0:
                print(f"check-layers: {target} can include {header}")
                failures += 1
sys.exit(1 if failures else 0)
PY
if ((failed)); then exit 1; fi
echo "check-layers: every layer rule holds"
