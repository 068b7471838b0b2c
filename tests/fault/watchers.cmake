# Hostile watchers: non-reading and slow streams, connects and writes.
add_executable(fault_watchers_tests watchers_test.cc)
target_compile_options(fault_watchers_tests PRIVATE ${MUSTER_WARNINGS})
target_compile_definitions(fault_watchers_tests PRIVATE MUSTERD_PATH="$<TARGET_FILE:musterd>")
add_dependencies(fault_watchers_tests musterd)
target_link_libraries(fault_watchers_tests PRIVATE
  muster_testkit muster_test_support muster_proto absl::synchronization
  absl::time Catch2::Catch2WithMain)
catch_discover_tests(fault_watchers_tests EXTRA_ARGS --warn NoTests
  PROPERTIES TIMEOUT 240)
