#include "rpc/actor.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace muster::registry {

std::string TransportActor(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // Only a peer gRPC has verified has a subject property: without mutual
  // TLS there is none.
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& subject :
         auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
      return absl::StrCat("cert:", std::string(subject.data(), subject.size()));
    }
  }
  return "anonymous";
}

}  // namespace muster::registry
