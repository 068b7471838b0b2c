#include "bench/results.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace muster::bench {
namespace {

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

void FillLatencies(std::vector<double> ms, Row* row) {
  std::sort(ms.begin(), ms.end());
  row->p50_ms = Percentile(ms, 0.50);
  row->p90_ms = Percentile(ms, 0.90);
  row->p99_ms = Percentile(ms, 0.99);
  row->max_ms = ms.empty() ? 0 : ms.back();
}

std::string NoiseCell(const Row& row) {
  if (row.other_cpu_cores < 0) return "-";
  std::string cell = Fixed(row.other_cpu_cores, 2);
  if (row.noisy) cell += " noisy";
  if (row.retries > 0) {
    cell += " (" + std::to_string(row.retries) +
            (row.retries == 1 ? " re-run)" : " re-runs)");
  }
  return cell;
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "| scenario | in-flight | ops/s | x baseline | p50 ms | p90 ms | p99 ms "
      "| max ms | daemon CPU | peak RSS MiB | other CPU | notes |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Row& r : rows) {
    std::printf(
        "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
        r.scenario.c_str(), r.in_flight, Fixed(r.ops_per_second, 0).c_str(),
        r.ratio > 0 ? Fixed(r.ratio, 2).c_str() : "-",
        Fixed(r.p50_ms, 3).c_str(), Fixed(r.p90_ms, 3).c_str(),
        Fixed(r.p99_ms, 3).c_str(), Fixed(r.max_ms, 3).c_str(),
        Fixed(r.cpu_share, 2).c_str(), Fixed(r.peak_rss_mib, 1).c_str(),
        NoiseCell(r).c_str(), r.notes.c_str());
  }
  std::fflush(stdout);
}

void PrintComparisons(const std::vector<Comparison>& comparisons) {
  if (comparisons.empty()) return;
  std::printf(
      "\nmuster vs etcd (one etcd member on the same disk, the same client, "
      "alternating in rounds; ratio = muster ops/s over etcd's):\n\n"
      "| work | in-flight | muster ops/s | etcd ops/s | ratio | muster p50 / "
      "p99 ms | etcd p50 / p99 ms | muster CPU us/op | etcd CPU us/op | "
      "notes |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Comparison& c : comparisons) {
    if (!c.skipped.empty()) {
      std::printf(
          "| %s | %d | - | %s | - | - | %s | - | %s | skipped: %s |\n",
          c.work.c_str(), c.in_flight, Fixed(c.etcd.ops_per_second, 0).c_str(),
          (Fixed(c.etcd.p50_ms, 2) + " / " + Fixed(c.etcd.p99_ms, 2)).c_str(),
          Fixed(c.etcd_cpu_us_per_op, 1).c_str(), c.skipped.c_str());
      continue;
    }
    const double ratio = c.etcd.ops_per_second > 0
                             ? c.muster.ops_per_second / c.etcd.ops_per_second
                             : 0;
    std::printf(
        "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.work.c_str(),
        c.in_flight, Fixed(c.muster.ops_per_second, 0).c_str(),
        Fixed(c.etcd.ops_per_second, 0).c_str(), Fixed(ratio, 2).c_str(),
        (Fixed(c.muster.p50_ms, 2) + " / " + Fixed(c.muster.p99_ms, 2)).c_str(),
        (Fixed(c.etcd.p50_ms, 2) + " / " + Fixed(c.etcd.p99_ms, 2)).c_str(),
        Fixed(c.muster_cpu_us_per_op, 1).c_str(),
        Fixed(c.etcd_cpu_us_per_op, 1).c_str(), c.note.c_str());
  }
  std::fflush(stdout);
}

bool WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::vector<std::string>& failures,
               const std::vector<Comparison>& comparisons) {
  std::ofstream out(path);
  out << "{\n  \"rows\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << "    {\"scenario\": " << JsonString(r.scenario)
        << ", \"in_flight\": " << r.in_flight
        << ", \"ops_per_second\": " << r.ops_per_second
        << ", \"x_baseline\": " << r.ratio << ", \"p50_ms\": " << r.p50_ms
        << ", \"p90_ms\": " << r.p90_ms << ", \"p99_ms\": " << r.p99_ms
        << ", \"max_ms\": " << r.max_ms
        << ", \"daemon_cpu_share\": " << r.cpu_share
        << ", \"peak_rss_mib\": " << r.peak_rss_mib
        << ", \"other_cpu_cores\": " << r.other_cpu_cores
        << ", \"noisy\": " << (r.noisy ? "true" : "false")
        << ", \"noise_retries\": " << r.retries
        << ", \"notes\": " << JsonString(r.notes);
    for (const auto& [name, value] : r.extra) {
      out << ", " << JsonString(name) << ": " << value;
    }
    out << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"vs_etcd\": [\n";
  for (size_t i = 0; i < comparisons.size(); ++i) {
    const Comparison& c = comparisons[i];
    const double ratio = c.skipped.empty() && c.etcd.ops_per_second > 0
                             ? c.muster.ops_per_second / c.etcd.ops_per_second
                             : 0;
    out << "    {\"work\": " << JsonString(c.work)
        << ", \"in_flight\": " << c.in_flight
        << ", \"muster_ops_per_second\": " << c.muster.ops_per_second
        << ", \"etcd_ops_per_second\": " << c.etcd.ops_per_second
        << ", \"ratio_to_etcd\": " << ratio
        << ", \"muster_p50_ms\": " << c.muster.p50_ms
        << ", \"muster_p99_ms\": " << c.muster.p99_ms
        << ", \"etcd_p50_ms\": " << c.etcd.p50_ms
        << ", \"etcd_p99_ms\": " << c.etcd.p99_ms
        << ", \"muster_cpu_us_per_op\": " << c.muster_cpu_us_per_op
        << ", \"etcd_cpu_us_per_op\": " << c.etcd_cpu_us_per_op
        << ", \"skipped\": " << JsonString(c.skipped)
        << ", \"note\": " << JsonString(c.note) << "}"
        << (i + 1 < comparisons.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"failures\": [";
  for (size_t i = 0; i < failures.size(); ++i) {
    out << (i ? ", " : "") << JsonString(failures[i]);
  }
  out << "]\n}\n";
  return static_cast<bool>(out);
}

}  // namespace muster::bench
