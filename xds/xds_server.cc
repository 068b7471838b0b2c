#include "xds/xds_server.h"

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "xds/ads_stream.h"

namespace muster::xds {
namespace {

// One port's AggregatedDiscoveryService: every stream shares `shared`.
class AdsService final : public envoy::service::discovery::v3::
                             AggregatedDiscoveryService::CallbackService {
 public:
  explicit AdsService(AdsShared& shared) : shared_(shared) {}

  grpc::ServerBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                          envoy::service::discovery::v3::DiscoveryResponse>*
  StreamAggregatedResources(grpc::CallbackServerContext* context) override {
    return new AdsStream(shared_, context);
  }

 private:
  AdsShared& shared_;
};

}  // namespace

XdsServer::XdsServer(Options options, registry::Registry& registry,
                     Metrics& metrics)
    : shared_(std::make_unique<AdsShared>(registry, metrics, options.push_delay,
                                          options.auth, *options.clock)) {}

XdsServer::~XdsServer() { Stop(); }

std::unique_ptr<grpc::Service> XdsServer::NewService() {
  return std::make_unique<AdsService>(*shared_);
}

void XdsServer::Stop() { shared_->Stop(); }

}  // namespace muster::xds
