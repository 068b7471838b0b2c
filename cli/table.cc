#include "cli/table.h"

#include <algorithm>

namespace muster::cli {
namespace {

void AppendPadded(std::string& line, const std::string& text, size_t width) {
  line += text;
  for (size_t w = VisibleWidth(text); w < width; ++w) line += ' ';
}

// Trailing blanks come from padding before empty cells; drop them.
void PrintLine(std::ostream& out, std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  out << line << '\n';
}

}  // namespace

size_t VisibleWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI sequence: parameters and intermediates up to a final byte in
      // '@'..'~'.
      i += 2;
      while (i < text.size() && (text[i] < '@' || text[i] > '~')) ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;  // not a UTF-8 continuation byte
  }
  return width;
}

Table::Table(std::vector<std::string> header) : columns_(header.size()) {
  rows_.push_back(std::move(header));
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_);
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(columns_, 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < columns_; ++c) {
      widths[c] = std::max(widths[c], VisibleWidth(row[c]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < columns_; ++c) {
      if (c + 1 == columns_) {
        line += row[c];
      } else {
        AppendPadded(line, row[c], widths[c] + 2);
      }
    }
    PrintLine(out, std::move(line));
  }
}

void PrintFields(
    std::ostream& out,
    const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [label, value] : fields) {
    width = std::max(width, VisibleWidth(label) + 1);
  }
  for (const auto& [label, value] : fields) {
    std::string line;
    AppendPadded(line, label + ":", width + 2);
    PrintLine(out, line + value);
  }
}

}  // namespace muster::cli
