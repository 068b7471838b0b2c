#pragma once

// What the store tests share: both stores behind one Open(), so that a
// case templated on the factory runs against each.

#include <catch2/catch.hpp>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "registry/store.h"
#include "store/memory/memory_store.h"
#include "store/rocksdb/rocksdb_store.h"
#include "tests/support/temp_dir.h"

namespace muster::registry {

// The value, or the test stops with the status.
template <typename T>
T ValueOf(absl::StatusOr<T> value) {
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *std::move(value);
}

struct MemoryStoreFactory {
  std::unique_ptr<Store> Open() { return std::make_unique<MemoryStore>(); }
};

// A RocksDB store in a temp dir of its own; Open() again reopens it.
struct RocksDbStoreFactory {
  testing::TempDir dir;
  std::unique_ptr<Store> Open() {
    RocksDbStore::Options options;
    options.path = dir.File("data");
    return ValueOf(RocksDbStore::Open(options));
  }
};

}  // namespace muster::registry
