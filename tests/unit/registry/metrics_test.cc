#include "common/metrics.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace muster {
namespace {

bool IsMetricName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0])))
    return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != ':')
      return false;
  }
  return true;
}

bool IsSampleValue(absl::string_view text) {
  double unused;
  return text == "+Inf" || text == "-Inf" || text == "NaN" ||
         absl::SimpleAtod(text, &unused);
}

// Checks `text` against the Prometheus text exposition format 0.0.4: every
// family has one HELP and one TYPE line before its samples, every sample
// belongs to the family declared last (histograms: _bucket/_sum/_count),
// label values are quoted with only \\, \" and \n escapes, and values are
// numbers. Returns "" when valid, else the first problem.
std::string ValidateExposition(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "no trailing newline";
  std::set<std::string> declared;
  std::string family, type;
  for (absl::string_view line : absl::StrSplit(
           absl::string_view(text).substr(0, text.size() - 1), '\n')) {
    std::string where = " in line: " + std::string(line);
    if (absl::StartsWith(line, "# HELP ")) {
      std::vector<absl::string_view> parts =
          absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() < 3 || !IsMetricName(parts[2])) return "HELP" + where;
      if (!declared.insert(std::string(parts[2])).second) {
        return "second HELP" + where;
      }
      family = std::string(parts[2]);
      type.clear();
      continue;
    }
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 4 || parts[2] != family || !type.empty()) {
        return "TYPE not right after its HELP" + where;
      }
      type = std::string(parts[3]);
      if (type != "counter" && type != "gauge" && type != "histogram") {
        return "unknown type" + where;
      }
      continue;
    }
    if (absl::StartsWith(line, "#")) return "stray comment" + where;
    if (type.empty()) return "sample before TYPE" + where;

    // name{labels} value
    size_t name_end = line.find_first_of("{ ");
    if (name_end == absl::string_view::npos) return "no value" + where;
    absl::string_view name = line.substr(0, name_end);
    bool name_ok = type == "histogram" ? name == family + "_bucket" ||
                                             name == family + "_sum" ||
                                             name == family + "_count"
                                       : name == family;
    if (!name_ok) return "sample outside its family" + where;
    absl::string_view rest = line.substr(name_end);
    if (absl::ConsumePrefix(&rest, "{")) {
      while (!absl::ConsumePrefix(&rest, "}")) {
        size_t eq = rest.find("=\"");
        if (eq == absl::string_view::npos ||
            !IsMetricName(rest.substr(0, eq))) {
          return "label name" + where;
        }
        rest.remove_prefix(eq + 2);
        for (;;) {
          if (rest.empty() || rest[0] == '\n') return "unterminated" + where;
          if (rest[0] == '"') break;
          if (rest[0] == '\\') {
            if (rest.size() < 2 ||
                (rest[1] != '\\' && rest[1] != '"' && rest[1] != 'n')) {
              return "bad escape" + where;
            }
            rest.remove_prefix(1);
          }
          rest.remove_prefix(1);
        }
        rest.remove_prefix(1);
        absl::ConsumePrefix(&rest, ",");
      }
    }
    if (!absl::ConsumePrefix(&rest, " ") || !IsSampleValue(rest)) {
      return "bad value" + where;
    }
  }
  return "";
}

TEST_CASE("the validator rejects broken expositions", "[metrics]") {
  CHECK(ValidateExposition("# HELP a x\n# TYPE a counter\na 1\n").empty());
  CHECK_FALSE(ValidateExposition("a 1\n").empty());
  CHECK_FALSE(
      ValidateExposition("# HELP a x\n# TYPE a counter\nb 1\n").empty());
  CHECK_FALSE(
      ValidateExposition("# HELP a x\n# TYPE a counter\na{l=\"\\t\"} 1\n")
          .empty());
  CHECK_FALSE(ValidateExposition(
                  "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a "
                  "gauge\na 2\n")
                  .empty());
}

TEST_CASE("counters render with HELP, TYPE and labels", "[metrics]") {
  Metrics metrics;
  metrics
      .GetCounter("muster_rpcs_total", "RPCs handled.",
                  {{"method", "Register"}, {"code", "OK"}})
      .Increment(2);
  metrics.GetCounter("muster_rpcs_total", "RPCs handled.",
                     {{"method", "Get"}, {"code", "OK"}});
  metrics.GetCounter("muster_plain_total", "No labels.").Increment();

  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text, Catch::Contains("# HELP muster_rpcs_total RPCs handled.\n"
                                   "# TYPE muster_rpcs_total counter\n"));
  CHECK_THAT(text,
             Catch::Contains(
                 "muster_rpcs_total{method=\"Register\",code=\"OK\"} 2\n"));
  CHECK_THAT(text, Catch::Contains(
                       "muster_rpcs_total{method=\"Get\",code=\"OK\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("\nmuster_plain_total 1\n"));
}

TEST_CASE("gauges render their current value", "[metrics]") {
  Metrics metrics;
  Gauge& open = metrics.GetGauge("muster_open_watchers", "Open watch streams.");
  open.Set(4);
  open.Add(-1.5);
  CHECK(open.Value() == 2.5);
  metrics.GetGauge("muster_revision", "Current revision.").Set(123456789);
  metrics.GetGauge("muster_negative", "Below zero.").Set(-3);

  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text, Catch::Contains("# TYPE muster_open_watchers gauge\n"
                                   "muster_open_watchers 2.5\n"));
  CHECK_THAT(text, Catch::Contains("\nmuster_revision 123456789\n"));
  CHECK_THAT(text, Catch::Contains("\nmuster_negative -3\n"));
}

TEST_CASE("histograms render cumulative buckets, +Inf, _sum and _count",
          "[metrics]") {
  Metrics metrics;
  Histogram& latency =
      metrics.GetHistogram("muster_commit_seconds", "Commit latency.",
                           {0.1, 1, 10}, {{"store", "rocksdb"}});
  // A value equal to a bound falls in that bucket (le is "less or equal").
  for (double value : {0.05, 0.1, 0.5, 5.0, 50.0}) latency.Observe(value);

  CHECK(latency.Count() == 5);
  CHECK(latency.Sum() == Approx(55.65));
  CHECK(latency.BucketCounts() == std::vector<uint64_t>{2, 1, 1, 1});

  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(
      text,
      Catch::Contains(
          "# HELP muster_commit_seconds Commit latency.\n"
          "# TYPE muster_commit_seconds histogram\n"
          "muster_commit_seconds_bucket{store=\"rocksdb\",le=\"0.1\"} 2\n"
          "muster_commit_seconds_bucket{store=\"rocksdb\",le=\"1\"} 3\n"
          "muster_commit_seconds_bucket{store=\"rocksdb\",le=\"10\"} 4\n"
          "muster_commit_seconds_bucket{store=\"rocksdb\",le=\"+Inf\"} 5\n"
          "muster_commit_seconds_sum{store=\"rocksdb\"} 55.65\n"
          "muster_commit_seconds_count{store=\"rocksdb\"} 5\n"));
}

TEST_CASE("an empty histogram without labels renders zeros", "[metrics]") {
  Metrics metrics;
  metrics.GetHistogram("muster_batch_size", "Group-commit batch size.",
                       SizeBuckets());
  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text, Catch::Contains("muster_batch_size_bucket{le=\"1\"} 0\n"));
  CHECK_THAT(text,
             Catch::Contains("muster_batch_size_bucket{le=\"4096\"} 0\n"));
  CHECK_THAT(text,
             Catch::Contains("muster_batch_size_bucket{le=\"+Inf\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("muster_batch_size_sum 0\n"));
  CHECK_THAT(text, Catch::Contains("muster_batch_size_count 0\n"));
}

TEST_CASE("bucket helpers are sorted and span their documented ranges",
          "[metrics]") {
  std::vector<double> latency = LatencyBuckets();
  REQUIRE_FALSE(latency.empty());
  CHECK(std::is_sorted(latency.begin(), latency.end()));
  CHECK(latency.front() == Approx(0.0001));
  CHECK(latency.back() == 10);

  std::vector<double> sizes = SizeBuckets();
  CHECK(std::is_sorted(sizes.begin(), sizes.end()));
  CHECK(sizes.front() == 1);
  CHECK(sizes.back() == 4096);
  CHECK(sizes.size() == 13);
}

TEST_CASE("label values are escaped", "[metrics]") {
  Metrics metrics;
  metrics
      .GetCounter("muster_escape_total", "Escaping.",
                  {{"value", "back\\slash \"quoted\"\nnext"}})
      .Increment();
  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text, Catch::Contains("muster_escape_total{value=\"back\\\\slash "
                                   "\\\"quoted\\\"\\nnext\"} 1\n"));
}

TEST_CASE("the same name and labels give the same object", "[metrics]") {
  Metrics metrics;
  Counter& a = metrics.GetCounter("c_total", "h", {{"k", "1"}});
  CHECK(&metrics.GetCounter("c_total", "h", {{"k", "1"}}) == &a);
  CHECK(&metrics.GetCounter("c_total", "h", {{"k", "2"}}) != &a);
  CHECK(&metrics.GetCounter("c_total", "h") != &a);

  Gauge& g = metrics.GetGauge("g", "h", {{"k", "1"}});
  CHECK(&metrics.GetGauge("g", "h", {{"k", "1"}}) == &g);
  CHECK(&metrics.GetGauge("g", "h", {{"k", "2"}}) != &g);

  Histogram& h = metrics.GetHistogram("h", "h", {1, 2}, {{"k", "1"}});
  CHECK(&metrics.GetHistogram("h", "h", {1, 2}, {{"k", "1"}}) == &h);
  CHECK(&metrics.GetHistogram("h", "h", {1, 2}, {{"k", "2"}}) != &h);

  a.Increment(7);
  CHECK(metrics.GetCounter("c_total", "h", {{"k", "1"}}).Value() == 7);
}

TEST_CASE("collectors report gauges at render time", "[metrics]") {
  Metrics metrics;
  metrics.GetCounter("muster_rpcs_total", "RPCs handled.").Increment();
  int instances = 3;
  int id = metrics.AddCollector([&instances](MetricsCollectorOutput& out) {
    out.Gauge("muster_instances", "Instances by realm and health.",
              {{"realm", "default"}, {"health", "PASSING"}}, instances);
    out.Gauge("muster_instances", "Instances by realm and health.",
              {{"realm", "prod"}, {"health", "CRITICAL"}}, 1);
  });
  int other = metrics.AddCollector([](MetricsCollectorOutput& out) {
    out.Gauge("muster_watchers", "Open watchers.", {}, 0);
  });
  CHECK(id != other);

  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text,
             Catch::Contains("# HELP muster_instances Instances by realm and "
                             "health.\n# TYPE muster_instances gauge\n"));
  CHECK_THAT(text, Catch::Contains("muster_instances{realm=\"default\",health="
                                   "\"PASSING\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("muster_instances{realm=\"prod\",health="
                                   "\"CRITICAL\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("\nmuster_watchers 0\n"));

  // Values are read at every render.
  instances = 9;
  CHECK_THAT(metrics.Render(),
             Catch::Contains("muster_instances{realm=\"default\",health="
                             "\"PASSING\"} 9\n"));

  metrics.RemoveCollector(id);
  text = metrics.Render();
  CHECK_THAT(text, !Catch::Contains("muster_instances"));
  CHECK_THAT(text, Catch::Contains("muster_watchers 0\n"));
}

TEST_CASE("a collector may use Metrics while it runs", "[metrics]") {
  // Collectors run without Metrics' lock held, so this must not deadlock.
  Metrics metrics;
  metrics.AddCollector([&metrics](MetricsCollectorOutput& out) {
    metrics.GetCounter("muster_scrapes_total", "Renders so far.").Increment();
    out.Gauge("muster_up", "Always 1.", {}, 1);
  });
  (void)metrics.Render();
  std::string text = metrics.Render();
  INFO(text);
  CHECK(ValidateExposition(text) == "");
  CHECK_THAT(text, Catch::Contains("muster_scrapes_total 1\n"));
  CHECK(metrics.GetCounter("muster_scrapes_total", "Renders so far.").Value() ==
        2);
}

}  // namespace
}  // namespace muster
