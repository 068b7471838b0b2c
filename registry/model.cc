#include "registry/model.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace muster::registry {

std::string InstanceKey::ToString() const {
  return absl::StrCat(realm, "/", service, "/", id);
}

namespace {

const CheckSpec& NoCheck() {
  static const CheckSpec* const kNoCheck = new CheckSpec();
  return *kNoCheck;
}

const std::string& EmptyString() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

}  // namespace

Instance::RarePtr::RarePtr(const RarePtr& other) : rare_(other.rare_) {
  if (rare_ != nullptr) rare_->holders.fetch_add(1, std::memory_order_relaxed);
}

Instance::RarePtr::RarePtr(RarePtr&& other) noexcept
    : rare_(std::exchange(other.rare_, nullptr)) {}

Instance::RarePtr& Instance::RarePtr::operator=(const RarePtr& other) {
  if (other.rare_ != nullptr)
    other.rare_->holders.fetch_add(1, std::memory_order_relaxed);
  Reset(other.rare_);
  return *this;
}

Instance::RarePtr& Instance::RarePtr::operator=(RarePtr&& other) noexcept {
  if (this != &other) Reset(std::exchange(other.rare_, nullptr));
  return *this;
}

void Instance::RarePtr::Reset(Rare* rare) {
  Rare* old = std::exchange(rare_, rare);
  // The last holder deletes, after every other holder's reads (their
  // release, this acquire).
  if (old != nullptr &&
      old->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete old;
  }
}

const CheckSpec& Instance::check() const {
  return rare_.get() == nullptr ? NoCheck() : rare_.get()->check;
}

CheckSpec* Instance::mutable_check() { return &MutableRare().check; }

void Instance::set_check(CheckSpec check) {
  if (rare_.get() == nullptr && check == NoCheck()) return;
  MutableRare().check = std::move(check);
  DropRareIfEmpty();
}

const std::string& Instance::admin_reason() const {
  return rare_.get() == nullptr ? EmptyString() : rare_.get()->admin_reason;
}

void Instance::set_admin_reason(std::string reason) {
  if (rare_.get() == nullptr && reason.empty()) return;
  MutableRare().admin_reason = std::move(reason);
  DropRareIfEmpty();
}

const std::string& Instance::check_output() const {
  return rare_.get() == nullptr ? EmptyString() : rare_.get()->check_output;
}

void Instance::set_check_output(std::string output) {
  if (rare_.get() == nullptr && output.empty()) return;
  MutableRare().check_output = std::move(output);
  DropRareIfEmpty();
}

Instance::Rare& Instance::MutableRare() {
  Rare* rare = rare_.get();
  if (rare == nullptr) {
    rare_.Reset(new Rare());
  } else if (rare->holders.load(std::memory_order_acquire) > 1) {
    // Shared with another copy: this one gets its own. (Acquire: when it
    // reads 1, the other holders' reads happened before their release.)
    Rare* copy = new Rare();
    copy->check = rare->check;
    copy->admin_reason = rare->admin_reason;
    copy->check_output = rare->check_output;
    rare_.Reset(copy);
  }
  return *rare_.get();
}

void Instance::DropRareIfEmpty() {
  const Rare* rare = rare_.get();
  if (rare != nullptr && rare->admin_reason.empty() &&
      rare->check_output.empty() && rare->check == NoCheck()) {
    rare_.Reset(nullptr);
  }
}

bool Instance::SameRegistration(const Instance& other) const {
  return address == other.address && port == other.port && tags == other.tags &&
         metadata == other.metadata && weight == other.weight &&
         zone == other.zone && version == other.version &&
         check() == other.check();
}

absl::string_view EventCauseName(EventCause cause) {
  switch (cause) {
    case EventCause::kRegistered:
      return "registered";
    case EventCause::kUpdated:
      return "updated";
    case EventCause::kHealthChanged:
      return "health-changed";
    case EventCause::kAdminChanged:
      return "admin-changed";
    case EventCause::kDeregistered:
      return "deregistered";
    case EventCause::kEvicted:
      return "evicted";
    case EventCause::kRealmDeleted:
      return "realm-deleted";
    case EventCause::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

namespace {

// A string field: up to 2 bytes of tag, 3 of length, then the bytes.
size_t StringBound(const std::string& value) { return 5 + value.size(); }

size_t PairsBound(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t bytes = 0;
  // A map entry: its own header, then the key and value fields.
  for (const auto& [key, value] : pairs) {
    bytes += 5 + StringBound(key) + StringBound(value);
  }
  return bytes;
}

}  // namespace

size_t EncodedSizeBound(const Instance& instance) {
  // Numbers, enums, durations and timestamps, with their headers.
  size_t bytes = 512;
  const CheckSpec& check = instance.check();
  for (const std::string* field :
       {&instance.realm, &instance.service, &instance.id, &instance.address,
        &instance.zone, &instance.version, &instance.admin_reason(),
        &instance.check_output(), &check.http_url, &check.http_method,
        &check.grpc_service, &check.tls_server_name}) {
    bytes += StringBound(*field);
  }
  for (const std::string& tag : instance.tags) bytes += StringBound(tag);
  bytes += PairsBound(instance.metadata);
  bytes += PairsBound(check.http_headers);
  return bytes;
}

size_t EncodedSizeBound(const Event& event) {
  size_t bytes = 64 + StringBound(event.reason) + StringBound(event.actor);
  if (event.instance != nullptr) bytes += EncodedSizeBound(*event.instance);
  return bytes;
}

}  // namespace muster::registry
