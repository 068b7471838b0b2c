#include "bench/noise.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace muster::bench {
namespace {

// The unsigned decimal numbers of `text`, separated by blanks; stops at
// the first other token.
std::vector<uint64_t> Numbers(std::string_view text) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i == text.size()) break;
    uint64_t value = 0;
    size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
      ++digits;
    }
    if (digits == 0 || (i < text.size() && text[i] != ' ' && text[i] != '\t')) {
      break;
    }
    out.push_back(value);
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<CpuTimes> ParseProcStat(std::string_view text,
                                      bool count_interrupts) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // The aggregate line is "cpu" and blanks; "cpu0" is one core.
    if (line.size() < 4 || line.substr(0, 3) != "cpu" ||
        (line[3] != ' ' && line[3] != '\t')) {
      continue;
    }
    const std::vector<uint64_t> f = Numbers(line.substr(3));
    // user nice system idle [iowait irq softirq steal [guest guest_nice]]
    if (f.size() < 4) return std::nullopt;
    CpuTimes times;
    const uint64_t steal = f.size() > 7 ? f[7] : 0;
    times.busy = f[0] + f[1] + f[2] + steal;
    if (count_interrupts && f.size() > 6) times.busy += f[5] + f[6];
    for (size_t i = 0; i < std::min<size_t>(f.size(), 8); ++i) {
      times.total += f[i];
    }
    return times;
  }
  return std::nullopt;
}

std::optional<bool> IrqTimeAccountedApart(std::string_view kernel_config) {
  if (kernel_config.find("\nCONFIG_IRQ_TIME_ACCOUNTING=y") !=
          std::string_view::npos ||
      kernel_config.rfind("CONFIG_IRQ_TIME_ACCOUNTING=y", 0) == 0) {
    return true;
  }
  if (kernel_config.find("# CONFIG_IRQ_TIME_ACCOUNTING is not set") !=
      std::string_view::npos) {
    return false;
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseProcessTicks(std::string_view text) {
  // pid (comm) state ppid ...: the command ends at the last ')'.
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  std::istringstream fields(std::string(text.substr(paren + 1)));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // After the command: state (field 3) is f[0]; utime (14) f[11], stime
  // (15) f[12].
  if (f.size() < 13) return std::nullopt;
  uint64_t ticks = 0;
  for (int i : {11, 12}) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(f[i].c_str(), &end, 10);
    if (end == f[i].c_str() || *end != '\0') return std::nullopt;
    ticks += v;
  }
  return ticks;
}

double OtherCores(const CpuTimes& before, const CpuTimes& after,
                  uint64_t tested_ticks, double wall_seconds,
                  double ticks_per_second) {
  if (wall_seconds <= 0 || ticks_per_second <= 0 || after.busy < before.busy) {
    return 0;
  }
  const double busy = static_cast<double>(after.busy - before.busy);
  const double other = busy - static_cast<double>(tested_ticks);
  return std::max(0.0, other / ticks_per_second / wall_seconds);
}

GuardOutcome RunGuarded(const NoisePolicy& policy,
                        const std::function<AttemptNoise(int)>& attempt) {
  GuardOutcome outcome;
  const int max_attempts = 1 + std::max(0, policy.retries);
  for (int i = 0; i < max_attempts; ++i) {
    const AttemptNoise a = attempt(i);
    ++outcome.attempts;
    if (i == 0 || a.final || a.other_cores < outcome.other_cores) {
      outcome.kept = i;
      outcome.other_cores = a.other_cores;
    }
    if (a.final) break;
    if (policy.threshold_cores <= 0 || a.other_cores <= policy.threshold_cores)
      break;
  }
  outcome.noisy = policy.threshold_cores > 0 &&
                  outcome.other_cores > policy.threshold_cores;
  return outcome;
}

namespace {

// Whether this kernel charges interrupt time to the interrupted task
// (read once; when its config cannot be read, as if it did not).
bool CountInterrupts() {
  static const bool count = [] {
    struct utsname u;
    if (uname(&u) != 0) return false;
    const std::optional<bool> apart = IrqTimeAccountedApart(
        ReadAll(std::string("/boot/config-") + u.release));
    return apart.has_value() && !*apart;
  }();
  return count;
}

}  // namespace

NoiseGuard& NoiseGuard::Global() {
  static NoiseGuard* guard = new NoiseGuard;
  return *guard;
}

void NoiseGuard::SetPolicy(const NoisePolicy& policy) {
  absl::MutexLock lock(&mu_);
  policy_ = policy;
}

NoisePolicy NoiseGuard::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

bool NoiseGuard::enabled() const {
  static const bool readable =
      ParseProcStat(ReadAll("/proc/stat"), CountInterrupts()).has_value() &&
      ParseProcessTicks(ReadAll("/proc/self/stat")).has_value();
  absl::MutexLock lock(&mu_);
  return readable && policy_.threshold_cores > 0;
}

void NoiseGuard::Watch(pid_t pid) {
  absl::MutexLock lock(&mu_);
  watched_.insert(pid);
}

void NoiseGuard::Unwatch(pid_t pid) {
  absl::MutexLock lock(&mu_);
  watched_.erase(pid);
}

NoiseGuard::Sample NoiseGuard::Take() const {
  std::set<pid_t> pids;
  {
    absl::MutexLock lock(&mu_);
    pids = watched_;
  }
  Sample sample;
  sample.at = std::chrono::steady_clock::now();
  sample.tested_ticks =
      ParseProcessTicks(ReadAll("/proc/self/stat")).value_or(0);
  for (pid_t pid : pids) {
    if (pid <= 0 || pid == getpid()) continue;
    sample.tested_ticks +=
        ParseProcessTicks(ReadAll("/proc/" + std::to_string(pid) + "/stat"))
            .value_or(0);
  }
  sample.cpu = ParseProcStat(ReadAll("/proc/stat"), CountInterrupts())
                   .value_or(CpuTimes{});
  return sample;
}

double NoiseGuard::OtherCoresBetween(const Sample& before,
                                     const Sample& after) {
  const uint64_t tested = after.tested_ticks > before.tested_ticks
                              ? after.tested_ticks - before.tested_ticks
                              : 0;
  return OtherCores(before.cpu, after.cpu, tested,
                    std::chrono::duration<double>(after.at - before.at).count(),
                    static_cast<double>(sysconf(_SC_CLK_TCK)));
}

}  // namespace muster::bench
