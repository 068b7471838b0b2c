#include "rpc/parse_errors.h"

#include <google/protobuf/descriptor.h>

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace muster::registry {
namespace {

class ParseErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  // `message` outlives the call (the factory owns it).
  explicit ParseErrorInterceptor(const std::string& message)
      : message_(message) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message_));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string& message_;
};

class Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(const std::vector<std::string>& services) {
    const google::protobuf::DescriptorPool* pool =
        google::protobuf::DescriptorPool::generated_pool();
    for (const std::string& name : services) {
      const google::protobuf::ServiceDescriptor* service =
          pool->FindServiceByName(name);
      if (service == nullptr) continue;
      for (int i = 0; i < service->method_count(); ++i) {
        const google::protobuf::MethodDescriptor* method = service->method(i);
        if (method->client_streaming() || method->server_streaming()) continue;
        // gRPC's method path: "/muster.v1.Registry/Register".
        messages_.emplace(
            absl::StrCat("/", service->full_name(), "/", method->name()),
            RequestBodyInvalid(method->input_type()->full_name()));
      }
    }
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (info->method() == nullptr) return nullptr;
    auto it = messages_.find(absl::string_view(info->method()));
    if (it == messages_.end()) return nullptr;
    return new ParseErrorInterceptor(it->second);
  }

 private:
  // Method path -> the INVALID_ARGUMENT message. Fixed at construction.
  absl::flat_hash_map<std::string, std::string> messages_;
};

}  // namespace

std::string RequestBodyInvalid(absl::string_view type) {
  return absl::StrCat("the request body is not a valid ", type, " message");
}

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ParseErrorInterceptors(const std::vector<std::string>& services) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::make_unique<Factory>(services));
  return factories;
}

}  // namespace muster::registry
