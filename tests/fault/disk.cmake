# A full and a read-only disk under the real musterd: its data dir on a
# 16 MiB tmpfs the test mounts (needs root; otherwise each case warns
# "SKIPPED" and passes).
add_executable(fault_disk_tests ${CMAKE_CURRENT_LIST_DIR}/disk_test.cc)
target_compile_options(fault_disk_tests PRIVATE ${MUSTER_WARNINGS})
target_compile_definitions(fault_disk_tests PRIVATE
  MUSTERD_PATH="$<TARGET_FILE:musterd>")
add_dependencies(fault_disk_tests musterd)
target_link_libraries(fault_disk_tests PRIVATE
  muster_testkit muster_test_support muster_proto absl::synchronization
  Catch2::Catch2WithMain)
catch_discover_tests(fault_disk_tests EXTRA_ARGS --warn NoTests
  PROPERTIES TIMEOUT 240)
