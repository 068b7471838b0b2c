// muster-bench: a closed-loop load generator for musterd.
//
// Starts a fresh musterd on free loopback ports with a temporary data dir,
// runs the selected scenarios against it (baseline Ping first, then lookup,
// register, ack, heartbeat, watch, checker, scale, secure, client, dns, xds and
// etcd (against one etcd member of its own); scale, secure and dns on
// daemons of their own; ha, when named or with
// --quick, on three replicas over an etcd cluster of its own), and prints one
// Markdown table row per scenario and concurrency. Any failed request, any
// watch event missed, duplicated or out of order, or any acknowledged instance
// missing after the scale restart makes the exit code 1.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"

namespace muster::bench {
namespace {

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int Main(int argc, char** argv) {
  Config config;
  std::string scenarios;
  std::string json;
  CLI::App app{"muster-bench: closed-loop load generator for musterd",
               "muster-bench"};
  app.add_option("--musterd", config.musterd, "musterd binary to start")
      ->capture_default_str();
  CLI::Option* duration = app.add_option("--duration", config.duration,
                                         "Seconds per scenario and concurrency")
                              ->capture_default_str();
  app.add_flag("--quick", config.quick,
               "1 s per scenario and small data sets (a smoke test)");
  app.add_option(
      "--scenarios", scenarios,
      "Comma-separated subset of baseline,lookup,register,ack,"
      "heartbeat,watch,checker,scale,secure,client,dns,xds,etcd,ha (baseline "
      "always runs; ha only when named, or by default with --quick)");
  app.add_option("--etcd", config.etcd,
                 "etcd binary the etcd and ha scenarios start")
      ->capture_default_str();
  app.add_option("--json", json, "Also write the results as JSON here");
  app.add_option("--noise-threshold", config.noise.threshold_cores,
                 "Cores other programs may use during a point before it is "
                 "noisy and re-run (0: no noise guard)")
      ->capture_default_str();
  CLI::Option* noise_retries =
      app.add_option("--noise-retries", config.noise.retries,
                     "Re-runs of a noisy point at most; the quietest "
                     "attempt is kept")
          ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  config.scenarios = Split(scenarios);
  if (config.quick) {
    if (duration->count() == 0) config.duration = 1;
    config.lookup_instances = 1000;
    config.heartbeat_instances = 1000;
    config.checker_targets = 200;
    config.scale_instances = 5000;
    config.watch_loads = {{20, 100}};
    config.ha_lookup_instances = 1000;
    config.etcd_in_flights = {64, 256};
    config.etcd_heartbeat_instances = 1000;
    // A smoke test on a busy machine: one re-run at most.
    if (noise_retries->count() == 0) config.noise.retries = 1;
  }
  NoiseGuard::Global().SetPolicy(config.noise);
  signal(SIGPIPE, SIG_IGN);

  Daemon daemon(config.musterd);
  if (!daemon.Start()) return 2;
  Bench bench(config, daemon);
  bench.Run();
  daemon.Stop();

  PrintTable(bench.rows());
  PrintComparisons(bench.comparisons());
  if (!json.empty() &&
      !WriteJson(json, bench.rows(), bench.failures(), bench.comparisons())) {
    std::fprintf(stderr, "muster-bench: cannot write %s\n", json.c_str());
    return 1;
  }
  if (!bench.failures().empty()) {
    std::fprintf(stderr, "muster-bench: %zu failure(s); see above\n",
                 bench.failures().size());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace muster::bench

int main(int argc, char** argv) { return muster::bench::Main(argc, argv); }
