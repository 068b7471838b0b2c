#include "tests/e2e/cli/harness.h"

#include <sstream>

namespace muster::e2e {
namespace {

constexpr absl::Duration kCtlDeadline = absl::Seconds(20);

}  // namespace

SpawnOptions CtlOptions(const std::string& address,
                        std::vector<std::string> args,
                        const std::vector<std::string>& env) {
  SpawnOptions options;
  options.argv = {MUSTERCTL_PATH};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = {"MUSTER_ADDR=" + address, "MUSTER_REALM", "NO_COLOR"};
  options.env.insert(options.env.end(), env.begin(), env.end());
  return options;
}

RunResult RunCtl(const std::string& address, std::vector<std::string> args,
                 const std::vector<std::string>& env) {
  return Run(CtlOptions(address, std::move(args), env), kCtlDeadline);
}

DaemonFixture::DaemonFixture() {
  daemon = std::make_unique<testing::DaemonProcess>(
      MUSTERD_PATH, temp.File("data"), temp.File("data.log"));
  const bool started = daemon->Start();
  INFO(daemon->log());
  REQUIRE(started);
}

DaemonFixture::~DaemonFixture() = default;

RunResult DaemonFixture::CtlRaw(std::vector<std::string> args,
                                const std::vector<std::string>& env) {
  return RunCtl(daemon->address(), std::move(args), env);
}

std::string DaemonFixture::Ctl(std::vector<std::string> args) {
  std::string joined;
  for (const std::string& a : args) joined += " " + a;
  RunResult r = CtlRaw(std::move(args));
  INFO("musterctl" << joined << "\nstdout:\n"
                   << r.out << "\nstderr:\n"
                   << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  return r.out;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace muster::e2e
