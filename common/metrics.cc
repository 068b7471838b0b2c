#include "common/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace muster {
namespace {

void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta,
                                       std::memory_order_relaxed)) {
  }
}

std::string EscapeLabelValue(const std::string& value) {
  return absl::StrReplaceAll(value,
                             {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

std::string FormatLabels(
    const MetricLabels& labels,
    const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && extra == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : labels) {
    absl::StrAppend(&out, first ? "" : ",", key, "=\"", EscapeLabelValue(value),
                    "\"");
    first = false;
  }
  if (extra != nullptr) {
    absl::StrAppend(&out, first ? "" : ",", extra->first, "=\"", extra->second,
                    "\"");
  }
  out += "}";
  return out;
}

std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.9g", value);
}

class RenderOutput final : public MetricsCollectorOutput {
 public:
  void Gauge(const std::string& name, const std::string& help,
             const MetricLabels& labels, double value) override {
    auto& entry = gauges_[name];
    entry.first = help;
    entry.second.push_back(
        absl::StrCat(name, FormatLabels(labels), " ", FormatValue(value)));
  }
  void AppendTo(std::string* out) const {
    for (const auto& [name, entry] : gauges_) {
      absl::StrAppend(out, "# HELP ", name, " ", entry.first, "\n# TYPE ", name,
                      " gauge\n");
      for (const auto& line : entry.second) absl::StrAppend(out, line, "\n");
    }
  }

 private:
  std::map<std::string, std::pair<std::string, std::vector<std::string>>>
      gauges_;
};

}  // namespace

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t index =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> SizeBuckets() {
  std::vector<double> bounds;
  for (double b = 1; b <= 4096; b *= 2) bounds.push_back(b);
  return bounds;
}

Metrics::Family& Metrics::FamilyLocked(const std::string& name,
                                       const std::string& help, Type type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  }
  return it->second;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kCounter).counters[labels];
  if (slot == nullptr) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::GetGauge(const std::string& name, const std::string& help,
                         const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kGauge).gauges[labels];
  if (slot == nullptr) slot = std::make_unique<class Gauge>();
  return *slot;
}

Histogram& Metrics::GetHistogram(const std::string& name,
                                 const std::string& help,
                                 const std::vector<double>& bounds,
                                 const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyLocked(name, help, Type::kHistogram).histograms[labels];
  if (slot == nullptr) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

int Metrics::AddCollector(
    std::function<void(MetricsCollectorOutput&)> collect) {
  absl::MutexLock lock(&mu_);
  int id = next_collector_id_++;
  collectors_[id] = std::move(collect);
  return id;
}

void Metrics::RemoveCollector(int id) {
  absl::MutexLock lock(&mu_);
  collectors_.erase(id);
}

std::string Metrics::Render() const {
  std::string out;
  std::vector<std::function<void(MetricsCollectorOutput&)>> collectors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) {
      const char* type = family.type == Type::kCounter ? "counter"
                         : family.type == Type::kGauge ? "gauge"
                                                       : "histogram";
      absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ",
                      name, " ", type, "\n");
      for (const auto& [labels, counter] : family.counters) {
        absl::StrAppend(&out, name, FormatLabels(labels), " ", counter->Value(),
                        "\n");
      }
      for (const auto& [labels, gauge] : family.gauges) {
        absl::StrAppend(&out, name, FormatLabels(labels), " ",
                        FormatValue(gauge->Value()), "\n");
      }
      for (const auto& [labels, histogram] : family.histograms) {
        std::vector<uint64_t> counts = histogram->BucketCounts();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          std::pair<std::string, std::string> le{
              "le", i < histogram->bounds().size()
                        ? FormatValue(histogram->bounds()[i])
                        : "+Inf"};
          absl::StrAppend(&out, name, "_bucket", FormatLabels(labels, &le), " ",
                          cumulative, "\n");
        }
        absl::StrAppend(&out, name, "_sum", FormatLabels(labels), " ",
                        FormatValue(histogram->Sum()), "\n");
        absl::StrAppend(&out, name, "_count", FormatLabels(labels), " ",
                        histogram->Count(), "\n");
      }
    }
    for (const auto& [id, collect] : collectors_) collectors.push_back(collect);
  }
  RenderOutput output;
  for (const auto& collect : collectors) collect(output);
  output.AppendTo(&out);
  return out;
}

}  // namespace muster
