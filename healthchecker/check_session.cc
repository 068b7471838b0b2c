#include "healthchecker/check_session.h"

#include <algorithm>
#include <utility>

#include "healthchecker/network_policy.h"

namespace muster::healthchecker {
namespace {

// The registry resolves every field a kind uses; should one still be
// unset, the documented defaults apply rather than a zero interval.
Target WithDefaults(Target target) {
  CheckSpec& check = target.check;
  if (check.interval <= absl::ZeroDuration())
    check.interval = kDefaultCheckInterval;
  if (check.timeout <= absl::ZeroDuration()) {
    check.timeout = std::min(kDefaultCheckTimeout, check.interval);
  }
  if (check.kind == CheckKind::kTtl && check.ttl <= absl::ZeroDuration()) {
    check.ttl = kDefaultCheckInterval;
  }
  if (check.deregister_after <= absl::ZeroDuration()) {
    check.deregister_after = kDefaultDeregisterAfter;
  }
  return target;
}

absl::Duration GraceOf(const CheckSpec& check) {
  return check.kind == CheckKind::kTtl ? check.ttl : check.interval;
}

HealthState::Options StateOptions(const Target& target,
                                  absl::Time grace_until) {
  HealthState::Options options;
  if (target.check.kind == CheckKind::kTtl) {
    // A TTL check is decisive both ways: one heartbeat revives, one
    // missed TTL condemns.
    options.healthy_threshold = 1;
    options.unhealthy_threshold = 1;
  } else {
    options.healthy_threshold = target.check.healthy_threshold;
    options.unhealthy_threshold = target.check.unhealthy_threshold;
  }
  options.initial = target.health;
  options.critical_not_before = grace_until;
  return options;
}

}  // namespace

CheckSession::CheckSession(uint64_t id, const Target& target, absl::Time now)
    : id_(id),
      target_(WithDefaults(target)),
      grace_until_(now + GraceOf(target_.check)),
      state_(StateOptions(target_, grace_until_)),
      committed_(target.health),
      critical_since_(target.health == Health::kCritical
                          ? target.status_changed_at
                          : absl::InfiniteFuture()) {}

bool CheckSession::NeedsRestart(const Target& next) const {
  return next.incarnation != target_.incarnation ||
         next.address != target_.address || next.port != target_.port ||
         WithDefaults(next).check != target_.check;
}

void CheckSession::Update(const Target& next) {
  target_.admin_state = next.admin_state;
  target_.health = next.health;
  target_.status_changed_at = next.status_changed_at;
  if (!report_in_flight_) committed_ = next.health;
  // The commit time is the reference the registry shows operators.
  if (next.health == Health::kCritical &&
      state_.health() == Health::kCritical) {
    critical_since_ = next.status_changed_at;
  }
}

Transition CheckSession::Record(ProbeResult result, std::string output,
                                absl::Time now) {
  output_ = std::move(output);
  last_checked_at_ = now;
  const Transition transition = state_.Record(result, now);
  if (transition == Transition::kChanged &&
      state_.health() == Health::kCritical) {
    critical_since_ = now;
    stalled_while_critical_ = absl::ZeroDuration();
  }
  return transition;
}

void CheckSession::GraceAfterStall(absl::Time now, absl::Duration stalled) {
  grace_until_ = std::max(grace_until_, now + GraceOf(target_.check));
  state_.DelayCritical(grace_until_);
  if (state_.health() == Health::kCritical) stalled_while_critical_ += stalled;
}

std::optional<Health> CheckSession::StartReport() {
  if (report_in_flight_ || state_.health() == committed_) return std::nullopt;
  report_in_flight_ = true;
  return state_.health();
}

void CheckSession::FinishReport(Health reported, const absl::Status& status) {
  report_in_flight_ = false;
  if (status.ok()) committed_ = reported;
}

ProbeRequest CheckSession::MakeProbeRequest() const {
  return ProbeRequest{target_.address, target_.port, target_.check};
}

std::string CheckSession::ProbeHost() const {
  if (target_.check.kind == CheckKind::kHttp) {
    absl::StatusOr<std::string> host = HttpUrlHost(target_.check.http_url);
    if (host.ok()) return *std::move(host);
  }
  return target_.address;
}

EvictionPolicy::Member CheckSession::PolicyMember() const {
  EvictionPolicy::Member member;
  member.realm = target_.key.realm;
  member.health = state_.health();
  member.admin_state = target_.admin_state;
  member.critical_since = critical_since_ + stalled_while_critical_;
  member.deregister_after = target_.check.deregister_after;
  member.not_before = grace_until_;
  member.failing = state_.consecutive_failures() > 0;
  return member;
}

HealthDetail CheckSession::Detail() const {
  HealthDetail detail;
  detail.output = output_;
  detail.last_checked_at = last_checked_at_;
  detail.consecutive_successes = state_.consecutive_successes();
  detail.consecutive_failures = state_.consecutive_failures();
  return detail;
}

}  // namespace muster::healthchecker
