#pragma once

// Parses a musterctl command line in a test: what CommandLine::Parse
// returned and printed.

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"

namespace muster::cli {

struct Parsed {
  // Set when parsing ended the program (help, a usage error): its code.
  std::optional<int> exit;
  std::string out;
  std::string err;
};

// `args` without the program name.
inline Parsed ParseArgs(CommandLine& cl, std::vector<const char*> args) {
  args.insert(args.begin(), "musterctl");
  std::ostringstream out;
  std::ostringstream err;
  Parsed p;
  p.exit = cl.Parse(static_cast<int>(args.size()), args.data(), out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

}  // namespace muster::cli
