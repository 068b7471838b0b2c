#pragma once

// What the scenarios that drive etcd directly share (ha.cc, vs_etcd.cc):
// prefix ranges and the async calls of etcd's KV and Lease services on
// the closed-loop machinery, each carrying the "hasleader" metadata
// muster's etcd client sends (a member without a leader refuses them).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "bench/closed_loop.h"
#include "store/etcd/proto/rpc.grpc.pb.h"

namespace muster::bench {

// The first key after every key that starts with `prefix` (etcd's
// range_end of a prefix).
inline std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    const unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// KV/Txn on `kv` (which must outlive the calls).
inline StartFn<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse> EtcdTxnCall(
    etcdserverpb::KV::Stub* kv) {
  return [kv](grpc::ClientContext* ctx, const etcdserverpb::TxnRequest& req,
              grpc::CompletionQueue* cq) {
    ctx->AddMetadata("hasleader", "true");
    return kv->AsyncTxn(ctx, req, cq);
  };
}

// KV/Put on `channel` (to etcd). muster's copy of etcd's KV service
// (store/etcd/proto) leaves Put out, as muster never calls it: the call
// is made by its method name, as the generated stub would make it.
inline StartFn<etcdserverpb::PutRequest, etcdserverpb::PutResponse> EtcdPutCall(
    std::shared_ptr<grpc::Channel> channel) {
  auto method = std::make_shared<grpc::internal::RpcMethod>(
      "/etcdserverpb.KV/Put", grpc::internal::RpcMethod::NORMAL_RPC, channel);
  return [channel, method](grpc::ClientContext* ctx,
                           const etcdserverpb::PutRequest& req,
                           grpc::CompletionQueue* cq) {
    ctx->AddMetadata("hasleader", "true");
    std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>>
        reader(grpc::internal::ClientAsyncResponseReaderHelper::Create<
               etcdserverpb::PutResponse, etcdserverpb::PutRequest,
               grpc::protobuf::MessageLite, grpc::protobuf::MessageLite>(
            channel.get(), cq, *method, ctx, req));
    reader->StartCall();
    return reader;
  };
}

// KV/Range on `kv`.
inline StartFn<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>
EtcdRangeCall(etcdserverpb::KV::Stub* kv) {
  return [kv](grpc::ClientContext* ctx, const etcdserverpb::RangeRequest& req,
              grpc::CompletionQueue* cq) {
    ctx->AddMetadata("hasleader", "true");
    return kv->AsyncRange(ctx, req, cq);
  };
}

// Lease/LeaseGrant on `lease`.
inline StartFn<etcdserverpb::LeaseGrantRequest,
               etcdserverpb::LeaseGrantResponse>
EtcdLeaseGrantCall(etcdserverpb::Lease::Stub* lease) {
  return [lease](grpc::ClientContext* ctx,
                 const etcdserverpb::LeaseGrantRequest& req,
                 grpc::CompletionQueue* cq) {
    ctx->AddMetadata("hasleader", "true");
    return lease->AsyncLeaseGrant(ctx, req, cq);
  };
}

}  // namespace muster::bench
