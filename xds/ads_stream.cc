#include "xds/ads_stream.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "xds/resources.h"

namespace muster::xds {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr const char* kTypeUrls[] = {kListenerType, kClusterType,
                                     kEndpointType};
constexpr absl::string_view kBearer = "bearer ";

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// The caller's token, or UNAUTHENTICATED saying what is wrong.
absl::StatusOr<std::shared_ptr<const registry::Token>> Authenticate(
    AdsShared& shared, grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "xDS needs a token: send the metadata \"authorization: Bearer "
        "<secret>\" (musterd runs with --auth)");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not \"Bearer <secret>\"");
  }
  return shared.registry.tokens().Authenticate(
      absl::StripAsciiWhitespace(value.substr(kBearer.size())),
      shared.clock.Now());
}

}  // namespace

AdsShared::AdsShared(registry::Registry& registry, Metrics& metrics,
                     absl::Duration push_delay, bool auth, Clock& clock)
    : registry(registry),
      auth(auth),
      clock(clock),
      assignments(registry, push_delay),
      streams(
          metrics.GetGauge("muster_xds_streams", "Open xDS (ADS) streams.")),
      pushes(metrics.GetCounter("muster_xds_responses_total",
                                "xDS responses sent (answers and pushes).")),
      nacks(metrics.GetCounter("muster_xds_nacks_total",
                               "xDS responses the client rejected (NACK).")),
      refused(metrics.GetCounter(
          "muster_xds_refused_total",
          "xDS streams ended for a missing or insufficient token.")),
      nack_log(clock, LogLimiter::Options()) {}

void AdsShared::Stop() {
  std::vector<AdsStream*> finish;
  {
    absl::MutexLock lock(&streams_mu);
    if (!stopped) {
      stopped = true;
      for (AdsStream* stream : live) {
        if (stream->BeginShutdown()) finish.push_back(stream);
      }
    }
  }
  // Outside streams_mu: Finish may run OnDone on this thread.
  for (AdsStream* stream : finish) stream->FinishNow();
  assignments.Stop();
}

AdsStream::AdsStream(AdsShared& shared, grpc::CallbackServerContext* context)
    : shared_(shared) {
  shared_.streams.Add(1);
  bool stopped;
  {
    absl::MutexLock lock(&shared_.streams_mu);
    stopped = shared_.stopped;
    shared_.live.insert(this);
  }
  if (stopped) {
    {
      absl::MutexLock lock(&mu_);
      finish_requested_ = true;
      finished_ = true;
    }
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "musterd is shutting down"));
    return;
  }
  if (shared_.auth) {
    absl::StatusOr<std::shared_ptr<const registry::Token>> token =
        Authenticate(shared_, context);
    if (!token.ok()) {
      shared_.refused.Increment();
      {
        absl::MutexLock lock(&mu_);
        finish_requested_ = true;
        finished_ = true;
      }
      Finish(ToGrpc(token.status()));
      return;
    }
    token_ = *std::move(token);
  }
  StartRead(&request_);
}

void AdsStream::OnReadDone(bool ok) {
  if (!ok) {
    RequestFinish(absl::OkStatus());
    return;
  }
  absl::Status status = HandleRequest(request_);
  if (!status.ok()) {
    RequestFinish(status);
    return;
  }
  Pump();
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return;
  }
  StartRead(&request_);
}

absl::Status AdsStream::HandleRequest(const DiscoveryRequest& request) {
  int type = -1;
  for (int i = 0; i < kTypes; ++i) {
    if (request.type_url() == kTypeUrls[i]) type = i;
  }
  std::set<ServiceName> endpoints;
  {
    absl::MutexLock lock(&mu_);
    if (!have_node_ && request.has_node()) {
      node_realm_ = NodeRealm(request.node());
      node_id_ = request.node().id();
      have_node_ = true;
    } else if (!have_node_) {
      node_realm_ = registry::kDefaultRealm;
      have_node_ = true;
    }
    // Other types (RDS, secrets...) are never referenced by what musterd
    // serves; the request is not answered.
    if (type < 0) return absl::OkStatus();
    TypeState& state = types_[type];
    std::vector<std::string> names(request.resource_names().begin(),
                                   request.resource_names().end());
    if (shared_.auth) {
      for (const std::string& name : names) {
        absl::StatusOr<ServiceName> parsed =
            ParseResourceName(name, node_realm_);
        if (!parsed.ok()) continue;
        absl::Status allowed = registry::TokenAuthorize(
            *token_, registry::TokenRole::kRead, parsed->realm, "");
        if (!allowed.ok()) {
          shared_.refused.Increment();
          return allowed;
        }
      }
    }
    bool names_changed = !state.requested || names != state.names;
    if (!request.response_nonce().empty() &&
        request.response_nonce() != state.nonce && !names_changed) {
      return absl::OkStatus();  // A stale request: a newer answer is on its
                                // way.
    }
    if (request.has_error_detail() && request.response_nonce() == state.nonce) {
      shared_.nacks.Increment();
      uint64_t dropped = 0;
      if (shared_.nack_log.Allow(&dropped)) {
        MUSTER_LOG(kWarning,
                   "xds: node \"%s\" rejected %s version %d (kept version "
                   "\"%s\"): %s%s",
                   node_id_, request.type_url(), state.version,
                   request.version_info(), request.error_detail().message(),
                   dropped > 0
                       ? absl::StrCat(" (", dropped, " rejections not logged)")
                       : "");
      }
    }
    state.requested = true;
    if (names_changed) {
      state.names = std::move(names);
      state.dirty = true;
    }
    if (!names_changed) return absl::OkStatus();
    // Every type's names: a listener or cluster appears when its realm
    // is created.
    for (const TypeState& each : types_) {
      for (const std::string& name : each.names) {
        absl::StatusOr<ServiceName> parsed =
            ParseResourceName(name, node_realm_);
        if (parsed.ok()) endpoints.insert(*std::move(parsed));
      }
    }
  }
  // Outside mu_: the pusher may be telling this stream of a change.
  shared_.assignments.Subscribe(this, endpoints);
  return absl::OkStatus();
}

bool AdsStream::NextResponse(DiscoveryResponse* response) {
  for (int type = 0; type < kTypes; ++type) {
    TypeState& state = types_[type];
    if (!state.dirty) continue;
    state.dirty = false;
    response->Clear();
    for (const std::string& name : state.names) {
      absl::StatusOr<ServiceName> parsed = ParseResourceName(name, node_realm_);
      // An unknown name is left out: the client reports that it does not
      // exist (EDS gets an empty assignment instead, below).
      if (!parsed.ok()) continue;
      if (type == kEndpoints) {
        envoy::config::endpoint::v3::ClusterLoadAssignment assignment =
            *shared_.assignments.Get(*parsed);
        assignment.set_cluster_name(name);
        response->add_resources()->PackFrom(assignment);
        continue;
      }
      if (!shared_.registry.realms().Get(parsed->realm).ok()) continue;
      if (type == kListeners) {
        response->add_resources()->PackFrom(BuildListener(name));
      } else {
        response->add_resources()->PackFrom(BuildCluster(name));
      }
    }
    std::string sent;
    for (const auto& resource : response->resources()) {
      absl::StrAppend(&sent, resource.value().size(), ":", resource.value());
    }
    if (state.sent_any && sent == state.sent) continue;
    state.sent = std::move(sent);
    state.sent_any = true;
    state.version++;
    state.nonce = absl::StrCat(++nonce_counter_);
    response->set_version_info(absl::StrCat(state.version));
    response->set_nonce(state.nonce);
    response->set_type_url(kTypeUrls[type]);
    return true;
  }
  return false;
}

void AdsStream::Pump() {
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || finish_requested_) return;
    if (!NextResponse(&response_)) return;
    writing_ = true;
  }
  shared_.pushes.Increment();
  StartWrite(&response_);
}

void AdsStream::OnWriteDone(bool ok) {
  enum class Next { kNothing, kWrite, kFinish } next = Next::kNothing;
  absl::Status finish;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !finish_requested_) {
      finish_requested_ = true;
      finish_status_ = absl::UnavailableError("the stream broke");
    }
    if (finish_requested_) {
      if (!finished_) {
        finished_ = true;
        finish = finish_status_;
        next = Next::kFinish;
      }
    } else if (NextResponse(&response_)) {
      writing_ = true;
      next = Next::kWrite;
    }
  }
  if (next == Next::kFinish) {
    Finish(ToGrpc(finish));
  } else if (next == Next::kWrite) {
    shared_.pushes.Increment();
    StartWrite(&response_);
  }
}

void AdsStream::RequestFinish(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    finish_status_ = status;
    if (writing_) return;  // OnWriteDone finishes.
    finished_ = true;
  }
  Finish(ToGrpc(status));
}

void AdsStream::AssignmentChanged() {
  {
    absl::MutexLock lock(&mu_);
    // Answers only go out for the types whose resources differ.
    for (TypeState& state : types_) {
      if (state.requested) state.dirty = true;
    }
  }
  Pump();
}

bool AdsStream::BeginShutdown() {
  absl::MutexLock lock(&mu_);
  if (finish_requested_) return false;
  finish_requested_ = true;
  finish_status_ = absl::UnavailableError("musterd is shutting down");
  if (writing_) return false;  // OnWriteDone finishes.
  finished_ = true;
  return true;
}

void AdsStream::FinishNow() {
  Finish(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "musterd is shutting down"));
}

void AdsStream::OnDone() {
  {
    absl::MutexLock lock(&shared_.streams_mu);
    shared_.live.erase(this);
  }
  // After this the pusher takes no new reference; one it holds keeps the
  // stream alive until it lets go.
  shared_.assignments.Subscribe(this, {});
  shared_.streams.Add(-1);
  Unref();
}

void AdsStream::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

}  // namespace muster::xds
