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
  // The noise guard (bench/noise.h): cores other programs used while the
  // point was measured (-1: not measured), whether that was over the
  // threshold even after the re-runs, and the re-runs made.
  double other_cpu_cores = -1;
  bool noisy = false;
  int retries = 0;
  std::string notes;
  // Scenario-specific figures, written to the JSON as they are.
  std::vector<std::pair<std::string, double>> extra;
};

// One line of the side-by-side summary of muster against etcd: the same
// work on both, measured alternately in one run.
struct Comparison {
  std::string work;
  int in_flight = 0;
  Row muster;
  Row etcd;
  double muster_cpu_us_per_op = 0;  // the daemon's
  double etcd_cpu_us_per_op = 0;    // etcd's
  // Why there is no muster figure (e.g. the RPC is not implemented); the
  // muster row is then empty.
  std::string skipped;
  std::string note;
};

// `v` with `digits` decimals.
std::string Fixed(double v, int digits);
// Sorts `ms` and fills the row's percentiles and maximum.
void FillLatencies(std::vector<double> ms, Row* row);
// The "other CPU" cell: "0.12", "0.45 noisy", "0.12 (2 re-runs)", "-".
std::string NoiseCell(const Row& row);
// Prints the Markdown table to stdout.
void PrintTable(const std::vector<Row>& rows);
// Prints the muster-vs-etcd summary (nothing when `comparisons` is
// empty).
void PrintComparisons(const std::vector<Comparison>& comparisons);
// Writes the rows, the comparisons and the failures as JSON; false when
// the file cannot be written.
bool WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::vector<std::string>& failures,
               const std::vector<Comparison>& comparisons = {});

}  // namespace muster::bench
