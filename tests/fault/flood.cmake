# Connection floods against the real musterd: the gRPC port keeps
# accepting, idle handshakes are closed, the heap shrinks back, /readyz
# tells whether the port answers.
add_executable(fault_flood_tests ${CMAKE_CURRENT_LIST_DIR}/flood_test.cc)
target_compile_options(fault_flood_tests PRIVATE ${MUSTER_WARNINGS})
target_compile_definitions(fault_flood_tests PRIVATE
  MUSTERD_PATH="$<TARGET_FILE:musterd>")
add_dependencies(fault_flood_tests musterd)
target_link_libraries(fault_flood_tests PRIVATE
  muster_daemon muster_rpc muster_store_rocksdb muster_store_memory muster_store_layout muster_codec muster_registry muster_healthchecker
  muster_testkit muster_test_support muster_proto
  Catch2::Catch2WithMain)
catch_discover_tests(fault_flood_tests EXTRA_ARGS --warn NoTests
  PROPERTIES TIMEOUT 240)
