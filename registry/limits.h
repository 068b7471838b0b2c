#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

// Every limit a request is checked against. The README's "Limits" table
// lists the same values; keep them in step.
namespace muster::registry::limits {

// Realm, service and zone names: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?
inline constexpr size_t kMaxNameBytes = 63;
// Instance ids: [A-Za-z0-9._:-]{1,128}
inline constexpr size_t kMaxInstanceIdBytes = 128;
// Hostname (RFC 1123 labels) or IPv4/IPv6 literal.
inline constexpr size_t kMaxAddressBytes = 253;
inline constexpr uint32_t kMinPort = 1;
inline constexpr uint32_t kMaxPort = 65535;
inline constexpr size_t kMaxTags = 64;
inline constexpr size_t kMaxTagBytes = 128;
inline constexpr size_t kMaxMetadataPairs = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 128;
inline constexpr size_t kMaxMetadataValueBytes = 512;
inline constexpr uint32_t kMaxWeight = 10000;
inline constexpr size_t kMaxVersionBytes = 128;
inline constexpr size_t kMaxReasonBytes = 256;
inline constexpr size_t kMaxDescriptionBytes = 256;
// Serialized size of one instance as registered.
inline constexpr size_t kMaxInstanceBytes = 64 * 1024;

// Checks.
inline constexpr absl::Duration kMinCheckInterval = absl::Seconds(1);
inline constexpr absl::Duration kMaxCheckInterval = absl::Hours(24);
inline constexpr absl::Duration kMinCheckTimeout = absl::Milliseconds(100);
inline constexpr absl::Duration kMaxCheckTimeout = absl::Hours(1);
inline constexpr absl::Duration kMinTtl = absl::Seconds(1);
inline constexpr absl::Duration kMaxTtl = absl::Hours(24);
inline constexpr uint32_t kMinThreshold = 1;
inline constexpr uint32_t kMaxThreshold = 10;
inline constexpr absl::Duration kMinDeregisterAfter = absl::Minutes(1);
inline constexpr absl::Duration kMaxDeregisterAfter = absl::Hours(24 * 30);
inline constexpr size_t kMaxUrlBytes = 2048;
inline constexpr size_t kMaxHttpHeaders = 16;
inline constexpr size_t kMaxHttpHeaderNameBytes = 128;
inline constexpr size_t kMaxHttpHeaderValueBytes = 1024;
inline constexpr size_t kMaxGrpcServiceBytes = 256;
// Check output kept per instance.
inline constexpr size_t kMaxCheckOutputBytes = 4096;

// Reads.
inline constexpr uint32_t kDefaultPageSize = 100;
inline constexpr uint32_t kMaxPageSize = 1000;
inline constexpr size_t kMaxFilterTags = 64;
inline constexpr size_t kMaxFilterMetadata = 64;

// Transport: the largest gRPC message the daemon accepts or sends.
inline constexpr int kMaxGrpcMessageBytes = 4 * 1024 * 1024;
// A reply that carries many records (a page of instances, of events, of
// services) ends early, with its continuation, once it holds this many
// bytes by EncodedSizeBound; it always holds at least one record. Half
// the message limit: the largest record (an instance of 64 KiB plus its
// check output) fits many times over, and no valid content can make a
// reply too big to send.
inline constexpr size_t kMaxReplyBytes = 2 * 1024 * 1024;

// Watch: events buffered for one watcher before it is cut off with
// RESOURCE_EXHAUSTED; events per stream message.
inline constexpr size_t kWatchBufferEvents = 10000;
inline constexpr size_t kWatchMaxEventsPerMessage = 500;
// Watch memory, in bytes of events as they are sent: what one watcher may
// hold (queued events plus the message the transport has not sent yet)
// before it is cut off, and what all watchers together may hold before
// the ones holding more than their share are cut off.
inline constexpr size_t kWatchBufferBytes = 16 * 1024 * 1024;
inline constexpr size_t kWatchMemoryLimitBytes = 512 * 1024 * 1024;
// A live message stops growing at this size (a margin under the message
// limit); it always carries at least one event.
inline constexpr size_t kWatchMaxMessageBytes = 256 * 1024;
// A watcher that is cut off while the transport still holds a message for
// it (the client is not reading) is reset after this long.
inline constexpr int kWatchCutOffGraceMs = 5000;

// Access tokens: names [a-z0-9][a-z0-9._-]{0,62}; realms and services a
// token's scope may name; the length of a secret an operator chooses
// (generated ones have 47 bytes).
inline constexpr size_t kMaxTokenNameBytes = 63;
inline constexpr size_t kMaxTokenRealms = 64;
inline constexpr size_t kMaxTokenServices = 64;
inline constexpr size_t kMinTokenSecretBytes = 32;
inline constexpr size_t kMaxTokenSecretBytes = 1024;

// Change log retention default (revisions).
inline constexpr uint64_t kDefaultChangelogRetention = 100000;

}  // namespace muster::registry::limits
