#include "client/src/retry_after.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace muster::client::internal {
namespace {

// Far beyond any deadline; keeps the arithmetic below from overflowing.
constexpr long long kMaxDelaySeconds = 365LL * 24 * 3600;

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
constexpr const char* kLongDays[] = {"Sunday",    "Monday",   "Tuesday",
                                     "Wednesday", "Thursday", "Friday",
                                     "Saturday"};

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

int MonthIndex(const char* name) {
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(name, kMonths[i]) == 0) return i;
  }
  return -1;
}

bool IsDay(const char* name, const char* const (&names)[7]) {
  for (const char* day : names) {
    if (std::strcmp(name, day) == 0) return true;
  }
  return false;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> ParseHttpDate(
    std::string_view text) {
  const std::string date(Trim(text));
  char day[10] = {};
  char month[4] = {};
  int mday = 0, year = 0, hour = 0, minute = 0, second = 0;
  int consumed = -1;
  bool parsed = false;
  if (std::sscanf(
          date.c_str(), "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", day,
          &mday, month, &year, &hour, &minute, &second, &consumed) == 7 &&
      consumed == static_cast<int>(date.size())) {
    parsed = IsDay(day, kDays);
  } else if (consumed = -1;
             std::sscanf(date.c_str(),
                         "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
                         day, &mday, month, &year, &hour, &minute, &second,
                         &consumed) == 7 &&
             consumed == static_cast<int>(date.size())) {
    // Two-digit years: RFC 9110 reads them as at most 50 years ahead;
    // for dates a server sends now, 70 is the same cut.
    year += year < 70 ? 2000 : 1900;
    parsed = IsDay(day, kLongDays);
  } else if (consumed = -1;
             std::sscanf(date.c_str(),
                         "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", day,
                         month, &mday, &hour, &minute, &second, &year,
                         &consumed) == 7 &&
             consumed == static_cast<int>(date.size())) {
    parsed = IsDay(day, kDays);
  }
  const int month_index = MonthIndex(month);
  if (!parsed || month_index < 0 || year < 1970 || hour > 23 || minute > 59 ||
      second > 60 || mday < 1 || hour < 0 || minute < 0 || second < 0) {
    return std::nullopt;
  }
  std::tm fields{};
  fields.tm_year = year - 1900;
  fields.tm_mon = month_index;
  fields.tm_mday = mday;
  fields.tm_hour = hour;
  fields.tm_min = minute;
  fields.tm_sec = second;
  const time_t seconds = timegm(&fields);
  // timegm normalizes "31 Feb" into March: such a date is no date.
  std::tm check{};
  if (seconds == static_cast<time_t>(-1) ||
      gmtime_r(&seconds, &check) == nullptr || check.tm_mday != mday ||
      check.tm_mon != month_index) {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(seconds);
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    long long seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > kMaxDelaySeconds) {
        seconds = kMaxDelaySeconds;
        break;
      }
    }
    return std::chrono::seconds(seconds);
  }
  std::optional<std::chrono::system_clock::time_point> date =
      ParseHttpDate(value);
  if (!date.has_value()) return std::nullopt;
  if (*date <= now) return std::chrono::milliseconds(0);
  return std::min(
      std::chrono::duration_cast<std::chrono::milliseconds>(*date - now),
      std::chrono::milliseconds(std::chrono::seconds(kMaxDelaySeconds)));
}

}  // namespace muster::client::internal
