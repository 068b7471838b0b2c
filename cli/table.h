#pragma once

// Aligned plain-text tables, the default output of musterctl.

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace muster::cli {

// Width of `text` on a terminal: ANSI colour sequences count zero, every
// UTF-8 code point counts one.
size_t VisibleWidth(std::string_view text);

// Rows of cells printed in columns separated by two spaces, the header
// first, each column as wide as its widest cell; the last column is not
// padded. Cells may carry colour sequences. Not thread-safe.
class Table final {
 public:
  explicit Table(std::vector<std::string> header);

  // A row shorter than the header is padded with empty cells; extra cells
  // are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t row_count() const { return rows_.size(); }

  void Print(std::ostream& out) const;

 private:
  const size_t columns_;
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// "Label:" / value pairs with the values aligned, one per line:
//   Service:  web
//   Address:  10.0.0.7:8080
void PrintFields(
    std::ostream& out,
    const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace muster::cli
