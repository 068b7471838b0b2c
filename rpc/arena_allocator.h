#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

namespace muster::registry {

// Puts a unary call's request and response on one protobuf arena, freed
// in one go when the call ends. A ListInstances answer is ten instances of
// a dozen strings and sub-messages each; allocated and freed one by one
// they were a fifth of the daemon's CPU under load. Thread-safe.
template <typename Request, typename Response>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(initial_block_)) {
      this->set_request(
          google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* initial_block) {
      google::protobuf::ArenaOptions options;
      // Most calls fit in the block allocated with the holder.
      options.initial_block = initial_block;
      options.initial_block_size = kInitialBlockBytes;
      options.start_block_size = 8192;
      return options;
    }

    static constexpr size_t kInitialBlockBytes = 2048;
    alignas(8) char initial_block_[kInitialBlockBytes];
    // Declared after the block it starts in.
    google::protobuf::Arena arena_;
  };
};

}  // namespace muster::registry
