#pragma once

// `musterctl register -f FILE`: many instances from one JSON or YAML
// file. Pure; thread-safe.
//
// The file is a list of instances, or an object {"instances": [...]}.
// Each instance has the fields of `musterctl register`'s flags:
//
//   - service: web            # required
//     id: web-1               # optional: the daemon generates one
//     address: 10.0.0.7       # required
//     port: 8080              # required
//     tags: [canary, v2]
//     metadata: {team: payments}
//     weight: 10
//     zone: eu-1
//     version: 1.4.2
//     check:                  # optional: none
//       kind: http            # ttl, http, tcp, grpc or none
//       http_url: http://10.0.0.7:8080/health
//       interval: 10s
//
// check also takes ttl, timeout, deregister_after, healthy_threshold,
// unhealthy_threshold, http_method, http_headers, http_follow_redirects,
// grpc_service, grpc_tls, tls_skip_verify and tls_server_name, each
// only with the kinds it applies to. Field names may also be written in
// lowerCamelCase (httpUrl), as the API's JSON does. JSON is read as YAML.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "muster/v1/registry.pb.h"

namespace muster::cli {

// One Register request per instance of `text`, in file order, for
// `realm`. Every entry is checked before any is returned: UsageError
// "NAME: instance N (line L): FIELD: rule" for the first bad one (N
// counts from 1), or "NAME: ..." for a file that is not JSON or YAML or
// holds no instances. `name` is the file's name as the user wrote it.
absl::StatusOr<std::vector<v1::RegisterRequest>> ParseInstanceFile(
    const std::string& name, const std::string& text, const std::string& realm);

}  // namespace muster::cli
