#pragma once

#include <string>

namespace muster::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents
// when the object is destroyed. Not thread-safe.
class TempDir final {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Every byte of every regular file under `dir`, one file after another:
// for tests that look for a secret that must not be stored in clear.
std::string AllFileBytes(const std::string& dir);

}  // namespace muster::testing
