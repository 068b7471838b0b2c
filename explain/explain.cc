#include "explain/explain.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "explain/text.h"

namespace muster::explain {
namespace {

// Documented defaults of CheckSpec (types.proto).
constexpr uint32_t kDefaultHealthyThreshold = 1;
constexpr uint32_t kDefaultUnhealthyThreshold = 3;

bool IsStatic(const v1::CheckSpec& check) {
  return check.kind() == v1::CHECK_KIND_NONE ||
         check.kind() == v1::CHECK_KIND_UNSPECIFIED;
}

std::string DurationOrDefault(const google::protobuf::Duration& d,
                              const char* what_default) {
  if (d.seconds() == 0 && d.nanos() == 0) return what_default;
  return FormatCompactDuration(FromProtoDuration(d));
}

uint32_t HealthyThreshold(const v1::CheckSpec& check) {
  return check.healthy_threshold() == 0 ? kDefaultHealthyThreshold
                                        : check.healthy_threshold();
}

uint32_t UnhealthyThreshold(const v1::CheckSpec& check) {
  return check.unhealthy_threshold() == 0 ? kDefaultUnhealthyThreshold
                                          : check.unhealthy_threshold();
}

std::string Since(const v1::Instance& instance, absl::Time now) {
  std::optional<absl::Time> t =
      FromProtoTimestamp(instance.status_changed_at());
  return t.has_value() ? absl::StrCat(" since ", FormatAge(*t, now)) : "";
}

std::string LastHeartbeat(const v1::Instance& instance, absl::Time now) {
  std::optional<absl::Time> t =
      FromProtoTimestamp(instance.last_heartbeat_at());
  return t.has_value() ? absl::StrCat("last heartbeat ", FormatAge(*t, now))
                       : "no heartbeat received yet";
}

std::string HealthFinding(const v1::Instance& instance, absl::Time now) {
  const v1::CheckSpec& check = instance.check();
  const v1::HealthDetail& detail = instance.health_detail();
  std::string head =
      absl::StrCat(HealthName(instance.health()), Since(instance, now), ": ");
  if (IsStatic(check)) {
    return absl::StrCat(head,
                        "static instance (check NONE): never probed, always "
                        "passing");
  }
  bool ttl = check.kind() == v1::CHECK_KIND_TTL;
  std::string ttl_text = DurationOrDefault(check.ttl(), "unset");
  switch (instance.health()) {
    case v1::HEALTH_STARTING:
      if (ttl) {
        return absl::StrCat(head,
                            "no verdict yet; it must heartbeat within "
                            "the TTL of ",
                            ttl_text, " (", LastHeartbeat(instance, now), ")");
      }
      return absl::StrCat(head, "no verdict yet; ",
                          detail.consecutive_successes(), " of ",
                          HealthyThreshold(check),
                          " consecutive successes needed to become PASSING");
    case v1::HEALTH_PASSING:
      if (ttl) {
        return absl::StrCat(head, "heartbeats arrive within the TTL of ",
                            ttl_text, " (", LastHeartbeat(instance, now), ")");
      }
      return absl::StrCat(head, detail.consecutive_successes(),
                          " consecutive successes (healthy threshold ",
                          HealthyThreshold(check), ")");
    case v1::HEALTH_WARNING:
      return absl::StrCat(head,
                          "the target says it is degraded; still routable");
    case v1::HEALTH_CRITICAL:
      if (ttl) {
        return absl::StrCat(head, "no heartbeat within the TTL of ", ttl_text,
                            " (", LastHeartbeat(instance, now), ")");
      }
      return absl::StrCat(head, detail.consecutive_failures(),
                          " consecutive failures reached the unhealthy "
                          "threshold of ",
                          UnhealthyThreshold(check));
    default:
      return absl::StrCat(head, "the daemon reported no health");
  }
}

std::string LastCheckFinding(const v1::Instance& instance, absl::Time now) {
  const v1::CheckSpec& check = instance.check();
  const v1::HealthDetail& detail = instance.health_detail();
  if (IsStatic(check)) return "none (static instances are not probed)";
  std::string output = detail.output().empty()
                           ? "no output"
                           : absl::StrCat("\"", OneLine(detail.output()), "\"");
  std::optional<absl::Time> checked =
      FromProtoTimestamp(detail.last_checked_at());
  if (check.kind() == v1::CHECK_KIND_TTL) {
    std::string text = LastHeartbeat(instance, now);
    if (!detail.output().empty()) absl::StrAppend(&text, "; ", output);
    return text;
  }
  if (!checked.has_value()) {
    return detail.output().empty()
               ? "no probe has finished yet"
               : absl::StrCat(
                     "no probe since the daemon started; last "
                     "recorded output: ",
                     output);
  }
  return absl::StrCat(FormatAge(*checked, now), ": ", output, " (",
                      detail.consecutive_successes(), " successes, ",
                      detail.consecutive_failures(), " failures in a row)");
}

std::string EvictionFinding(const v1::Instance& instance, absl::Time now) {
  const v1::CheckSpec& check = instance.check();
  const v1::HealthDetail& detail = instance.health_detail();
  if (IsStatic(check)) return "never: static instances are not evicted";
  if (instance.admin_state() == v1::ADMIN_STATE_DRAINING) {
    return "held back: a draining instance is never evicted";
  }
  std::string after = DurationOrDefault(check.deregister_after(),
                                        "the realm's default (10m unless set)");
  if (instance.health() != v1::HEALTH_CRITICAL) {
    return absl::StrCat("not pending: only an instance CRITICAL for ", after,
                        " is evicted");
  }
  if (detail.eviction_paused()) {
    return absl::StrCat(
        "held back: eviction protection is on in realm \"", instance.realm(),
        "\" because too many of its instances are critical at once (the "
        "checker may be the one cut off); evictions resume when that share "
        "drops");
  }
  std::optional<absl::Time> evict_at = FromProtoTimestamp(detail.evict_at());
  if (!evict_at.has_value()) {
    return absl::StrCat("after ", after,
                        " critical (the daemon reported no eviction time)");
  }
  if (*evict_at <= now) {
    return absl::StrCat("due now (was due at ", FormatRfc3339(*evict_at), ")");
  }
  return absl::StrCat(
      "in ",
      FormatCompactDuration(absl::Ceil(*evict_at - now, absl::Seconds(1))),
      " (at ", FormatRfc3339(*evict_at), ") unless it recovers first");
}

bool UsesTls(const v1::CheckSpec& check) {
  switch (check.kind()) {
    case v1::CHECK_KIND_HTTP:
      return absl::StartsWithIgnoreCase(check.http_url(), "https://");
    case v1::CHECK_KIND_GRPC:
      return check.grpc_tls();
    default:
      return false;
  }
}

// " as \"api.internal\"" when the check names the certificate's name.
std::string ServerName(const v1::CheckSpec& check) {
  if (check.tls_server_name().empty()) return "";
  return absl::StrCat(" as \"", check.tls_server_name(), "\"");
}

}  // namespace

std::string DescribeCheckTls(const v1::CheckSpec& check) {
  const bool http = check.kind() == v1::CHECK_KIND_HTTP;
  if (!http && check.kind() != v1::CHECK_KIND_GRPC) return "";
  if (!UsesTls(check)) return http ? "plain http (no TLS)" : "plaintext gRPC";
  std::string what = absl::StrCat(http ? "https" : "gRPC over TLS",
                                  ServerName(check), ", certificate ");
  if (check.tls_skip_verify()) {
    absl::StrAppend(&what, "NOT verified (tls_skip_verify)");
  } else {
    absl::StrAppend(&what,
                    "verified against musterd's probe CAs (--probe-ca-file, "
                    "else the system roots)");
  }
  return what;
}

std::string DescribeCheck(const v1::CheckSpec& check) {
  if (IsStatic(check)) return "NONE (static, always passing)";
  std::string what = CheckKindName(check.kind());
  switch (check.kind()) {
    case v1::CHECK_KIND_HTTP:
      absl::StrAppend(&what, " ",
                      check.http_method().empty() ? "GET" : check.http_method(),
                      " ", check.http_url());
      break;
    case v1::CHECK_KIND_GRPC:
      if (!check.grpc_service().empty()) {
        absl::StrAppend(&what, " service \"", check.grpc_service(), "\"");
      }
      if (check.grpc_tls()) absl::StrAppend(&what, " over TLS");
      break;
    case v1::CHECK_KIND_TTL:
      absl::StrAppend(&what, " ", DurationOrDefault(check.ttl(), "unset"));
      break;
    default:
      break;
  }
  if (UsesTls(check)) {
    absl::StrAppend(&what, " (TLS", ServerName(check), ", ",
                    check.tls_skip_verify() ? "NOT verified" : "verified", ")");
  }
  if (check.kind() != v1::CHECK_KIND_TTL) {
    absl::StrAppend(
        &what, " every ", DurationOrDefault(check.interval(), "10s (default)"),
        ", timeout ", DurationOrDefault(check.timeout(), "2s (default)"), ",");
  } else {
    absl::StrAppend(&what, ",");
  }
  absl::StrAppend(
      &what, " passing after ", HealthyThreshold(check), " / critical after ",
      UnhealthyThreshold(check), " results, evicted after ",
      DurationOrDefault(check.deregister_after(), "the default"), " critical");
  return what;
}

Explanation Explain(const v1::Instance& instance, absl::Time now) {
  Explanation out;
  out.routable = IsRoutable(instance);
  std::string who = absl::StrCat(instance.service(), "/", instance.id(),
                                 " (realm \"", instance.realm(), "\")");
  bool draining = instance.admin_state() == v1::ADMIN_STATE_DRAINING;

  if (out.routable) {
    out.verdict = absl::StrCat(who, " is routable: it is ENABLED and ",
                               HealthName(instance.health()), ".");
  } else {
    std::vector<std::string> why;
    if (draining) why.push_back("an operator drained it");
    if (instance.admin_state() == v1::ADMIN_STATE_UNSPECIFIED) {
      why.push_back("its admin state is unknown");
    }
    switch (instance.health()) {
      case v1::HEALTH_CRITICAL:
        why.push_back("its health is CRITICAL");
        break;
      case v1::HEALTH_STARTING:
        why.push_back("it has no health verdict yet (STARTING)");
        break;
      case v1::HEALTH_PASSING:
      case v1::HEALTH_WARNING:
        break;
      default:
        why.push_back("its health is unknown");
        break;
    }
    out.verdict = absl::StrCat(
        who, " is NOT routable: ", absl::StrJoin(why, " and "), ".");
  }

  std::string admin;
  if (draining) {
    admin = absl::StrCat(
        "DRAINING: an operator drained it (",
        instance.admin_reason().empty()
            ? std::string("no reason given")
            : absl::StrCat("reason: \"", instance.admin_reason(), "\""),
        "); it takes no new traffic whatever its health");
  } else if (instance.admin_state() == v1::ADMIN_STATE_ENABLED) {
    admin = "ENABLED: the operator allows traffic";
  } else {
    admin = "unknown: the daemon reported no admin state";
  }
  out.findings.emplace_back("Admin state", admin);
  out.findings.emplace_back("Health", HealthFinding(instance, now));
  out.findings.emplace_back("Check", DescribeCheck(instance.check()));
  if (std::string tls = DescribeCheckTls(instance.check()); !tls.empty()) {
    out.findings.emplace_back("TLS", std::move(tls));
  }
  out.findings.emplace_back("Last check", LastCheckFinding(instance, now));
  out.findings.emplace_back("Eviction", EvictionFinding(instance, now));

  std::string ref = absl::StrCat(instance.service(), " ", instance.id());
  if (draining) {
    out.hints.push_back(absl::StrCat("run `musterctl enable ", ref,
                                     "` to let it take traffic"));
  }
  if (instance.health() == v1::HEALTH_CRITICAL) {
    if (instance.check().kind() == v1::CHECK_KIND_TTL) {
      out.hints.push_back(
          absl::StrCat("the instance must call Heartbeat with incarnation ",
                       instance.create_revision(),
                       " (or run `musterctl heartbeat ", ref, "`)"));
    } else if (absl::StartsWith(instance.health_detail().output(), "TLS: ")) {
      out.hints.push_back(
          "the target's TLS handshake failed: give musterd its CA with "
          "--probe-ca-file, or name the certificate's DNS name with "
          "--check-tls-server-name (--check-tls-skip-verify skips "
          "verification altogether)");
    } else {
      out.hints.push_back(absl::StrCat("check the target ", instance.address(),
                                       ":", instance.port(),
                                       " answers the health check"));
    }
  }
  return out;
}

}  // namespace muster::explain
