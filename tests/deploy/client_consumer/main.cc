// A service outside muster's tree, built against the installed client
// library (every public header): it registers itself through MUSTER_ADDR,
// prints its incarnation, finds itself through a Resolver, then drains and
// deregisters.
//
// Usage: consumer SERVICE PORT

#include <muster/client/client.h>
#include <muster/client/clock.h>
#include <muster/client/health_server.h>
#include <muster/client/http_client.h>
#include <muster/client/options.h>
#include <muster/client/registration.h>
#include <muster/client/resolver.h>
#include <muster/client/service_channel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer SERVICE PORT\n");
    return 2;
  }
  grpc::Status status;
  auto client = muster::client::Client::Create({}, &status);
  if (client == nullptr) {
    std::fprintf(stderr, "consumer: %s\n", status.error_message().c_str());
    return 2;
  }
  muster::client::RegistrationOptions options;
  options.service = argv[1];
  options.address = "127.0.0.1";
  options.port = static_cast<uint32_t>(std::atoi(argv[2]));
  options.ttl = std::chrono::seconds(5);
  auto registration =
      muster::client::Registration::Start(client, options, &status);
  if (registration == nullptr) {
    std::fprintf(stderr, "consumer: %s\n", status.error_message().c_str());
    return 2;
  }
  if (!registration->WaitRegistered(std::chrono::seconds(20))) {
    std::fprintf(stderr, "consumer: not registered: %s\n",
                 registration->status().last_error.c_str());
    return 1;
  }
  const auto registered = registration->status();
  std::printf("registered %s incarnation %llu\n", registered.id.c_str(),
              static_cast<unsigned long long>(registered.incarnation));
  // The instance turns PASSING with its first heartbeat; then a resolver
  // finds it.
  auto resolver = muster::client::Resolver::Create(client);
  size_t routable = 0;
  for (int i = 0; i < 100 && routable == 0; ++i) {
    routable = resolver->View(options.service).routable.size();
    if (routable == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("resolved %zu\n", routable);
  status = registration->Shutdown(std::chrono::milliseconds(0));
  if (!status.ok()) {
    std::fprintf(stderr, "consumer: deregister: %s\n",
                 status.error_message().c_str());
    return 1;
  }
  std::printf("deregistered\n");
  return 0;
}
