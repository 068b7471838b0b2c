#include "ui/assets.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string ReadSource(const std::string& name) {
  std::ifstream in(std::string(MUSTER_UI_SOURCE_DIR) + "/" + name,
                   std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

TEST_CASE("every dashboard file is embedded byte for byte", "[ui]") {
  for (const char* name : {"index.html", "app.js", "style.css"}) {
    INFO(name);
    const muster::ui::Asset* asset = muster::ui::FindAsset(name);
    REQUIRE(asset != nullptr);
    const std::string source = ReadSource(name);
    REQUIRE_FALSE(source.empty());
    CHECK(asset->body == source);
  }
}

TEST_CASE("the page is found at the folder and by name", "[ui]") {
  const muster::ui::Asset* root = muster::ui::FindAsset("");
  const muster::ui::Asset* index = muster::ui::FindAsset("index.html");
  REQUIRE(root != nullptr);
  CHECK(root == index);
  CHECK(root->content_type == "text/html; charset=utf-8");
  CHECK(root->body.find("<script src=\"app.js\">") != std::string::npos);
}

TEST_CASE("content types follow the extension", "[ui]") {
  CHECK(muster::ui::FindAsset("app.js")->content_type ==
        "text/javascript; charset=utf-8");
  CHECK(muster::ui::FindAsset("style.css")->content_type ==
        "text/css; charset=utf-8");
}

TEST_CASE("unknown and escaping paths find nothing", "[ui]") {
  CHECK(muster::ui::FindAsset("nope.js") == nullptr);
  CHECK(muster::ui::FindAsset("../ui/app.js") == nullptr);
  CHECK(muster::ui::FindAsset("/app.js") == nullptr);
  CHECK(muster::ui::FindAsset("index.html/") == nullptr);
}
