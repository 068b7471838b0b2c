#pragma once

#include <string>

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace muster::registry {

// The actor a call's changes are recorded under (muster.v1.Event.actor),
// from what the transport knows of the caller: "cert:<subject>" for a
// client that presented a verified certificate (mutual TLS), else
// "anonymous". A caller with an access token is named by its token
// instead (rpc/auth.h).
std::string TransportActor(const grpc::ServerContextBase& context);

}  // namespace muster::registry
