// register -f: many instances from a JSON or YAML file.

#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/instance_file.h"

namespace muster::cli {
namespace {

// The content of `path`, or of stdin for "-".
absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    if (std::cin.bad()) return UsageError("-f: cannot read stdin");
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UsageError(absl::StrCat("-f: cannot read \"", path,
                                   "\": no such file or not readable"));
  }
  text << in.rdbuf();
  if (in.bad())
    return UsageError(absl::StrCat("-f: cannot read \"", path, "\""));
  return text.str();
}

// service/id, or the entry's place when the daemon is to choose the id.
std::string Label(const v1::Instance& instance, size_t number) {
  if (instance.id().empty()) {
    return absl::StrCat(instance.service(), "/(instance ", number, ")");
  }
  return absl::StrCat(instance.service(), "/", instance.id());
}

}  // namespace

absl::Status RunRegisterFile(Context& ctx, const std::string& path) {
  absl::StatusOr<std::string> text = ReadInput(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<v1::RegisterRequest>> requests =
      ParseInstanceFile(path == "-" ? "stdin" : path, *text, ctx.realm);
  if (!requests.ok()) return requests.status();

  std::vector<std::string> failed;
  absl::Status first_failure;
  for (size_t i = 0; i < requests->size(); ++i) {
    const v1::RegisterRequest& request = (*requests)[i];
    absl::StatusOr<v1::RegisterResponse> response = ctx.client.Call(
        ctx.client.registry(), &v1::Registry::StubInterface::Register, request);
    if (!response.ok()) {
      // An unreachable daemon fails every other entry the same way.
      if (ClassOf(response.status()) == ErrorClass::kUnreachable) {
        return response.status();
      }
      std::string label = Label(request.instance(), i + 1);
      ctx.err << "musterctl: register " << label << " failed: "
              << absl::StatusCodeToString(response.status().code()) << ": "
              << response.status().message() << std::endl;
      failed.push_back(label);
      if (first_failure.ok()) first_failure = response.status();
      continue;
    }
    if (ctx.output.format == Format::kJson) {
      absl::StatusOr<std::string> line =
          ToJson(*response, JsonLayout::kOneLine);
      if (!line.ok()) return line.status();
      ctx.out << *line << std::endl;
      continue;
    }
    const v1::Instance& instance = response->instance();
    ctx.out << (response->created() ? "registered " : "updated ")
            << instance.service() << "/" << instance.id() << " incarnation "
            << instance.create_revision() << std::endl;
  }
  if (failed.empty()) return absl::OkStatus();
  return absl::Status(first_failure.code(),
                      absl::StrCat(failed.size(), " of ", requests->size(),
                                   " instances were not registered: ",
                                   absl::StrJoin(failed, ", ")));
}

}  // namespace muster::cli
