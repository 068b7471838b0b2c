# find_package(MusterClient) -> the imported target Muster::client
# (libmuster-client.so and its headers; it needs gRPC's C++ library).
include(CMakeFindDependencyMacro)
find_dependency(gRPC CONFIG)
include("${CMAKE_CURRENT_LIST_DIR}/MusterClientTargets.cmake")
