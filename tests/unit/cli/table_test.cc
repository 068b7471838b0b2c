#include "cli/table.h"

#include <catch2/catch.hpp>
#include <sstream>

namespace muster::cli {
namespace {

TEST_CASE("Table aligns columns to the widest cell", "[table]") {
  Table table({"SERVICE", "ID", "HEALTH"});
  table.AddRow({"web", "web-1", "PASSING"});
  table.AddRow({"payments-api", "p-10", "CRITICAL"});
  std::ostringstream out;
  table.Print(out);
  CHECK(out.str() ==
        "SERVICE       ID     HEALTH\n"
        "web           web-1  PASSING\n"
        "payments-api  p-10   CRITICAL\n");
}

TEST_CASE("Table ignores colour sequences when aligning", "[table]") {
  Table table({"HEALTH", "ID"});
  table.AddRow({"\x1b[32mPASSING\x1b[0m", "a"});
  table.AddRow({"WARNING", "b"});
  std::ostringstream out;
  table.Print(out);
  CHECK(out.str() ==
        "HEALTH   ID\n"
        "\x1b[32mPASSING\x1b[0m  a\n"
        "WARNING  b\n");
}

TEST_CASE("Table pads short rows and leaves no trailing blanks", "[table]") {
  Table table({"A", "B", "C"});
  table.AddRow({"x"});
  table.AddRow({"longer", "", "z", "dropped"});
  std::ostringstream out;
  table.Print(out);
  CHECK(out.str() ==
        "A       B  C\n"
        "x\n"
        "longer     z\n");
  CHECK(table.row_count() == 3);
}

TEST_CASE("VisibleWidth counts code points, not bytes", "[table]") {
  CHECK(VisibleWidth("") == 0);
  CHECK(VisibleWidth("abc") == 3);
  CHECK(VisibleWidth("zürich") == 6);
  CHECK(VisibleWidth("\x1b[1;31mred\x1b[0m") == 3);
}

TEST_CASE("PrintFields aligns values after the labels", "[table]") {
  std::ostringstream out;
  PrintFields(out,
              {{"ID", "web-1"}, {"Address", "10.0.0.7:8080"}, {"Zone", ""}});
  CHECK(out.str() ==
        "ID:       web-1\n"
        "Address:  10.0.0.7:8080\n"
        "Zone:\n");
}

}  // namespace
}  // namespace muster::cli
