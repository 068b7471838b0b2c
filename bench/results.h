#pragma once

// The bench's results: one row per scenario and concurrency, printed as a
// Markdown table and written as JSON.

#include <string>
#include <utility>
#include <vector>

namespace muster::bench {

struct Row {
  std::string scenario;
  int in_flight = 0;
  double ops_per_second = 0;
  double ratio = 0;  // to baseline at the same in-flight; 0 = n/a
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  double cpu_share = 0;
  double peak_rss_mib = 0;
  std::string notes;
  // Scenario-specific figures, written to the JSON as they are.
  std::vector<std::pair<std::string, double>> extra;
};

// `v` with `digits` decimals.
std::string Fixed(double v, int digits);
// Sorts `ms` and fills the row's percentiles and maximum.
void FillLatencies(std::vector<double> ms, Row* row);
// Prints the Markdown table to stdout.
void PrintTable(const std::vector<Row>& rows);
// Writes the rows and failures as JSON; false when the file cannot be
// written.
bool WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::vector<std::string>& failures);

}  // namespace muster::bench
