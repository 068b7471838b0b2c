#pragma once

#include <cstdio>
#include <cstdlib>

// FUZZ_CHECK(condition, printf-style message...): a broken invariant
// aborts the fuzz target with the message, so libFuzzer keeps the input
// as a crash. Fuzz targets only.
#define FUZZ_CHECK(condition, ...)                                    \
  do {                                                                \
    if (!(condition)) {                                               \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
                   __LINE__, #condition);                             \
      std::fprintf(stderr, __VA_ARGS__);                              \
      std::fprintf(stderr, "\n");                                     \
      std::abort();                                                   \
    }                                                                 \
  } while (false)
