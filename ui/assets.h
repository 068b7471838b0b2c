#pragma once

// The operator dashboard's files (ui/index.html, app.js, style.css), built
// into the binary: musterd serves them under /ui/ with no file system or
// network access. Thread-safe: the table is immutable after first use.

#include <string_view>

namespace muster::ui {

// One embedded file: its Content-Type header value and its bytes.
struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// The file at `path`, relative to /ui/ ("app.js"); "" and "index.html" are
// the page. nullptr when there is no such file. The Asset lives as long as
// the program.
const Asset* FindAsset(std::string_view path);

}  // namespace muster::ui
