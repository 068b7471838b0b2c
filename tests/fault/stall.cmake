# A stall: musterd stopped (SIGSTOP) for longer than its instances' TTL
# while their clients keep heartbeating.
add_executable(fault_stall_tests stall_test.cc)
target_compile_options(fault_stall_tests PRIVATE ${MUSTER_WARNINGS})
target_compile_definitions(fault_stall_tests PRIVATE MUSTERD_PATH="$<TARGET_FILE:musterd>")
add_dependencies(fault_stall_tests musterd)
target_link_libraries(fault_stall_tests PRIVATE
  muster_testkit muster_test_support muster_proto absl::synchronization
  absl::time Catch2::Catch2WithMain)
catch_discover_tests(fault_stall_tests EXTRA_ARGS --warn NoTests
  PROPERTIES TIMEOUT 240)
